/** What a benchmark ran on, printed above its figures and written next to them in docs/. */
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  kernel: string;
  memoryGiB: number;
  node: string;
  /** Device, filesystem type, size and mount of `dir` (from df / findmnt). */
  disk: string;
  mountOptions: string;
  fsType: string;
  date: string;
  commit: string;
}

export function machineInfo(dir: string, repoRoot: string): MachineInfo {
  const lscpu = run('lscpu', []);
  const model = /^Model name:\s*(.+)$/m.exec(lscpu)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const df = run('df', ['-hT', dir]).split('\n')[1]?.split(/\s+/) ?? [];
  const [source, fsType, size] = [df[0] ?? '?', df[1] ?? '?', df[2] ?? '?'];
  const dirty = run('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    cpu: model,
    cores: cpus().length,
    kernel: `${run('uname', ['-s']) || process.platform} ${release()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    disk: `${source} (${fsType}, ${size}) for ${dir}`,
    mountOptions: run('findmnt', ['-T', dir, '-no', 'OPTIONS']) || '?',
    fsType,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: `${run('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']) || '?'}${dirty ? ' (+ local changes)' : ''}`,
  };
}

export function machineLines(m: MachineInfo): string[] {
  return [
    `CPU: ${m.cpu}, ${m.cores} cores`,
    `Memory: ${m.memoryGiB} GiB`,
    `Kernel: ${m.kernel}`,
    `Node: ${m.node}`,
    `Disk: ${m.disk}, mount options ${m.mountOptions}`,
    `Date: ${m.date}`,
    `Commit: ${m.commit}`,
  ];
}
