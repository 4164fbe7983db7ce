/** Small statistics and formatting helpers shared by the benchmarks. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of the first `n` values of `xs`. */
export function percentile(xs: ArrayLike<number>, p: number, n = xs.length): number {
  if (n === 0) return Number.NaN;
  const s = Float64Array.from({ length: n }, (_, i) => xs[i] as number).sort();
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return s[rank] as number;
}

/** (max - min) / median of the runs, in percent: how noisy a figure is. */
export function spreadPct(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  return ((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100;
}

/** Fixed-capacity latency recorder: keeps the first `cap` samples (µs). */
export class Samples {
  readonly #v: Float64Array;
  #n = 0;
  constructor(cap = 1 << 21) {
    this.#v = new Float64Array(cap);
  }
  add(us: number): void {
    if (this.#n < this.#v.length) this.#v[this.#n++] = us;
  }
  get count(): number {
    return this.#n;
  }
  p(pct: number): number {
    return percentile(this.#v, pct, this.#n);
  }
  reset(): void {
    this.#n = 0;
  }
}

/** Format with thousands separators and at most `digits` decimals; '-' for NaN. */
export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Three significant figures for small numbers (µs), fewer decimals as they grow. */
export function fmtUs(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x < 10) return x.toFixed(2);
  if (x < 100) return x.toFixed(1);
  return fmt(x, 0);
}

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  /** Lines printed under the table. */
  notes?: string[];
}

/** A table as aligned plain text for the terminal. */
export function renderText(t: Table): string {
  const width = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(width[i] as number) : c.padStart(width[i] as number)))
      .join(' | ');
  const out = [`\n## ${t.title}`, line(t.columns), width.map((w) => '-'.repeat(w)).join('-|-')];
  for (const r of t.rows) out.push(line(t.columns.map((_, i) => r[i] ?? '')));
  for (const n of t.notes ?? []) out.push(`  ${n}`);
  return out.join('\n');
}

/** The same table as GitHub markdown. */
export function renderMarkdown(t: Table, level = '###'): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const out = [`${level} ${t.title}`, ''];
  out.push(`| ${t.columns.map(esc).join(' | ')} |`);
  out.push(`|${t.columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const r of t.rows) out.push(`| ${t.columns.map((_, i) => esc(r[i] ?? '')).join(' | ')} |`);
  if (t.notes?.length) {
    out.push('');
    for (const n of t.notes) out.push(`- ${n}`);
  }
  out.push('');
  return out.join('\n');
}
