import { describe, expect, it } from 'vitest';
import { encodeHistogram, mergeEncoded, newHistogram, recordUs, summarize } from './histogram.ts';

describe('latency histograms', () => {
  it('merging encoded worker histograms gives the percentiles of all samples together', () => {
    // Two workers with disjoint ranges: averaging their own p50s (250 and 750) would be wrong for p90.
    const a = newHistogram();
    const b = newHistogram();
    for (let i = 1; i <= 500; i++) recordUs(a, i);
    for (let i = 501; i <= 1000; i++) recordUs(b, i);
    const merged = mergeEncoded([encodeHistogram(a), encodeHistogram(b)]);
    const s = summarize(merged);
    expect(s?.count).toBe(1000);
    expect(s?.p50).toBeCloseTo(500, -1);
    expect(s?.p90).toBeCloseTo(900, -1);
    expect(s?.p99).toBeCloseTo(990, -1);
    expect(s?.max).toBeGreaterThanOrEqual(1000);
    expect(s?.min).toBe(1);
    if (!s) throw new Error('no summary');
    expect(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max).toBe(true);
  });

  it('records with a count, clamps sub-µs values to 1 µs, ignores NaN', () => {
    const h = newHistogram();
    recordUs(h, 0.2);
    recordUs(h, Number.NaN);
    recordUs(h, 2000, 9);
    const s = summarize(mergeEncoded([encodeHistogram(h)]));
    expect(s?.count).toBe(10);
    expect(s?.min).toBe(1);
    expect(s?.p50).toBeCloseTo(2000, -1);
  });

  it('nothing recorded: no summary', () => {
    expect(summarize(mergeEncoded([]))).toBeNull();
  });
});
