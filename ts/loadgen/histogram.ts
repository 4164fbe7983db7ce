/**
 * Latency histograms (HdrHistogram, µs, 3 significant digits). Each worker
 * records into its own histogram and ships it to the main thread encoded
 * (the compressed base64 form HdrHistogram defines), where the workers'
 * histograms are added into one: percentiles of the merged histogram are
 * exact to the histogram's precision, unlike an average of per-worker
 * percentiles.
 */
import hdr from 'hdr-histogram-js';

/** One hour in µs: any latency above is a stuck client, recorded as the maximum. */
const HIGHEST_US = 3_600_000_000;

export type Histogram = ReturnType<typeof hdr.build>;

export function newHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 'packed',
    useWebAssembly: false,
  });
}

/** Record a latency in µs (sub-µs values count as 1 µs; clamped to one hour). */
export function recordUs(h: Histogram, us: number, count = 1): void {
  if (!(us >= 0)) return;
  const v = Math.min(HIGHEST_US, Math.max(1, Math.round(us)));
  if (count === 1) h.recordValue(v);
  else h.recordValueWithCount(v, count);
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Add the encoded histograms into one (an empty histogram for none). */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const total = newHistogram();
  for (const e of encoded) {
    const h = hdr.decodeFromCompressedBase64(e, 'packed', false);
    total.add(h);
    h.destroy();
  }
  return total;
}

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Percentiles in µs, or null when nothing was recorded. */
export function summarize(h: Histogram): LatencySummary | null {
  const count = h.totalCount;
  if (count === 0) return null;
  return {
    count,
    min: h.minNonZeroValue,
    mean: Math.round(h.mean * 10) / 10,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
  };
}
