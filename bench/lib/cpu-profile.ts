/** The top self-time functions of a V8 .cpuprofile (node --cpu-prof), within a time window. */
import { readFileSync } from 'node:fs';
import { fmt } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface TopSelf {
  /** [function (file:line), self ms, % of busy] */
  rows: string[][];
  totalMs: number;
  idlePct: number;
}

/**
 * `windowUs` is on the monotonic clock (process.hrtime in µs), which V8's
 * profile timestamps share, so the profiled process's start-up and shutdown
 * can be cut away. Paths are shown relative to `repoRoot` / node_modules.
 */
export function topSelf(
  profilePath: string,
  n: number,
  windowUs: [number, number],
  repoRoot: string,
): TopSelf {
  const prof = JSON.parse(readFileSync(profilePath, 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  let t = prof.startTime;
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    if (t < windowUs[0] || t > windowUs[1]) continue;
    const id = prof.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + Math.max(0, prof.timeDeltas[i] ?? 0));
  }
  const byFn = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') idle += us;
    const where = cf.url
      ? `${cf.url
          .replace(/^file:\/\//, '')
          .replace(repoRoot, '')
          .replace(/^.*node_modules\//, 'node_modules/')}:${cf.lineNumber + 1}`
      : '';
    const key = `${cf.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const rows = [...byFn.entries()]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => [k, fmt(us / 1000, 0), `${fmt((us / busy) * 100, 1)}%`]);
  return { rows, totalMs: total / 1000, idlePct: total > 0 ? (idle / total) * 100 : 0 };
}
