// Stage 2 of the beacon detector: given the recent check-in times and sizes of one pair, how
// periodic is it, with what period and jitter? Pure functions over arrays, so that the
// detector, `vigil beacons` and the tests share one implementation.
//
// Several views of periodicity are combined because each fails somewhere else:
// - folded gaps: gaps divided by the nearest whole number of periods (a missed check-in makes a
//   gap of 2P, which folds back to P) after absorbing extra check-ins shorter than P/2 (tasking
//   bursts); robust to missed and extra beats, weakened by large jitter;
// - the shape of the gaps: a jittered sleep has bounded gaps (Cobalt Strike: [S(1-j), S]) while
//   random traffic has exponential or heavier tails, so the log-IQR, the upper tail, the lower
//   floor and a uniform-vs-exponential likelihood ratio still see a 90 % jitter;
// - an FFT periodogram of binned check-in counts against the maximum power of shuffled copies
//   of the same series (a permutation threshold), confirmed by an autocorrelation peak near the
//   period; finds periodicity in series where the gaps themselves are noisy;
// - size consistency of what is sent and received per check-in.
// Offline stretches (nights, weekends) are removed from the time axis before binning so that an
// office-hours beacon is judged on the hours it runs.

import FFT from 'fft.js';
import { mulberry32 } from '../../agent/random.js';

export interface CheckinSeries {
  /** Check-in times, seconds, ascending. */
  times: ArrayLike<number>;
  /** Payload bytes sent by the source per check-in. */
  orig: ArrayLike<number>;
  /** Payload bytes received per check-in. */
  resp: ArrayLike<number>;
  /** How many entries of the arrays are used. */
  n: number;
}

export interface PeriodicityResult {
  /** Best period estimate, seconds. */
  period: number;
  /**
   * Half the 5-95 % range of the per-beat gaps over their median: about j for a sleep of
   * S(1 ± j), 0.9j / (2 − j) for Cobalt Strike's S(1 − U[0, j]), 0 for a fixed sleep.
   */
  jitter: number;
  /** Sub-scores in [0, 1]. */
  subscores: {
    /** Folded-gap regularity: share of gaps within ±15 % (×√k) of k periods; extras count against. */
    gaps: number;
    /** Upper-tail boundedness: 1 − (p90 / median − 1.75) / 1.5 of the gaps. */
    tail: number;
    /** Lower-tail boundedness: 1 − (share of gaps under a quarter of the median) / 0.15. */
    floor: number;
    /** Bounded (uniform) rather than exponential gaps, by likelihood ratio per gap. */
    uniform: number;
    /** Boundedness of the gaps: 1 − IQR(ln gap) / 1.5 (an exponential distribution has 1.57). */
    dispersion: number;
    /** Spectral peak over the permutation threshold: log2(peak / threshold) / 2. */
    fft: number;
    /** Normalised autocorrelation at the period's lag (best within ±20 %). */
    acf: number;
    /** Share of check-ins whose sent / received bytes are within 10 % (min 32 B) of the median. */
    size: number;
  };
  /** Numbers behind the sub-scores, for the evidence. */
  detail: {
    beats: number;
    missed: number;
    extra: number;
    breaks: number;
    median_gap: number;
    fft_period: number;
    fft_ratio: number;
    size_orig_median: number;
    size_resp_median: number;
  };
}

/** Gaps longer than this many median gaps are offline stretches, not missed beats. */
const BREAK_FACTOR = 10;
/** Most bins of the count series (a power of two). */
const MAX_BINS = 1024;
/** Bins per period when the span allows. */
const BINS_PER_PERIOD = 4;
/** Shuffled copies of the series for the spectral threshold. */
const PERMUTATIONS = 8;

const ffts = new Map<number, FFT>();
function fftOf(size: number): FFT {
  let f = ffts.get(size);
  if (!f) {
    f = new FFT(size);
    ffts.set(size, f);
  }
  return f;
}

/** Linear-interpolated quantile of an ascending array. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function sortedCopy(a: ArrayLike<number>, n = a.length): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i];
  return out.sort();
}

/**
 * Share of values within max(32, 10 %) of their median; 0 for no values. Check-ins that got no
 * answer (`answered[i]` false) are left out: a refused attempt carries no payload to compare.
 */
export function sizeConsistency(
  values: ArrayLike<number>,
  n: number,
  answered?: (i: number) => boolean,
): { share: number; median: number } {
  const kept: number[] = [];
  for (let i = 0; i < n; i++) if (!answered || answered(i)) kept.push(values[i]);
  n = kept.length;
  if (n === 0) return { share: 0, median: 0 };
  const s = Float64Array.from(kept).sort();
  const median = quantile(s, 0.5);
  const tol = Math.max(32, 0.1 * median);
  let inside = 0;
  for (let i = 0; i < n; i++) if (Math.abs(s[i] - median) <= tol) inside++;
  return { share: inside / n, median };
}

interface Folded {
  beats: number;
  missed: number;
  extra: number;
  /** Share of gaps (after absorbing extras) within FOLD_TOLERANCE·√k·P of k·P, k = 1..MAX_FOLD. */
  regular: number;
  /** Per-beat gaps (acc / k), unsorted. */
  perBeat: number[];
}

/** Tolerance of a folded gap around k periods, as a fraction of the period (times √k). */
const FOLD_TOLERANCE = 0.15;
/** Most missed check-ins one gap may stand for. */
const MAX_FOLD = 4;

/**
 * Folds gaps onto a candidate period: check-ins less than P/2 after the previous one are
 * extras (absorbed into the next gap), a gap near k·P stands for k − 1 missed check-ins.
 */
export function foldGaps(gaps: ArrayLike<number>, n: number, period: number): Folded {
  const perBeat: number[] = [];
  let missed = 0;
  let extra = 0;
  let regular = 0;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += gaps[i];
    if (acc < 0.5 * period) {
      extra++;
      continue;
    }
    const k = Math.max(1, Math.round(acc / period));
    perBeat.push(acc / k);
    if (k <= MAX_FOLD && Math.abs(acc - k * period) <= FOLD_TOLERANCE * Math.sqrt(k) * period) {
      regular++;
      missed += k - 1;
    }
    acc = 0;
  }
  const beats = perBeat.length;
  return { beats, missed, extra, regular: beats + extra > 0 ? regular / (beats + extra) : 0, perBeat };
}

interface Spectrum {
  period: number;
  ratio: number;
  acf: number;
}

/**
 * Periodogram of the binned check-in counts on the compressed time axis. Returns the period of
 * the strongest significant peak (lowest-frequency one among peaks within half of the maximum),
 * its power over the permutation threshold, and the autocorrelation at the spectral period
 * when its peak is significant, else at `hintPeriod`.
 */
export function spectrum(compressed: ArrayLike<number>, n: number, hintPeriod: number, seed: number): Spectrum {
  const span = compressed[n - 1] - compressed[0];
  if (!(span > 0) || !(hintPeriod > 0)) return { period: 0, ratio: 0, acf: 0 };
  let w = hintPeriod / BINS_PER_PERIOD;
  if (span / w > MAX_BINS) w = span / MAX_BINS;
  let size = 64;
  while (size < span / w + 1) size *= 2;
  const bins = Math.floor(span / w) + 1;
  const x = new Float64Array(size);
  for (let i = 0; i < n; i++) x[Math.min(bins - 1, Math.floor((compressed[i] - compressed[0]) / w))]++;
  let mean = 0;
  for (let i = 0; i < bins; i++) mean += x[i];
  mean /= bins;
  for (let i = 0; i < bins; i++) x[i] -= mean;

  const fft = fftOf(size);
  const out = fft.createComplexArray() as number[];
  const power = (series: Float64Array, into: Float64Array): void => {
    fft.realTransform(out, series);
    for (let k = 0; k <= size / 2; k++) into[k] = out[2 * k] ** 2 + out[2 * k + 1] ** 2;
  };
  const p = new Float64Array(size / 2 + 1);
  power(x, p);
  // Periods between two bins and half the span.
  const kMin = Math.max(1, Math.ceil((2 * size * w) / span));
  const kMax = size / 2;
  let best = 0;
  for (let k = kMin; k <= kMax; k++) if (p[k] > best) best = p[k];

  // Permutation threshold: the maximum power of shuffled copies of the same counts.
  const rand = mulberry32(seed);
  const shuffled = new Float64Array(size);
  const q = new Float64Array(size / 2 + 1);
  let threshold = 0;
  for (let r = 0; r < PERMUTATIONS; r++) {
    shuffled.set(x);
    for (let i = bins - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = shuffled[i];
      shuffled[i] = shuffled[j];
      shuffled[j] = t;
    }
    power(shuffled, q);
    for (let k = kMin; k <= kMax; k++) if (q[k] > threshold) threshold = q[k];
  }
  let kStar = 0;
  for (let k = kMin; k <= kMax; k++) {
    if (p[k] >= 0.5 * best && p[k] > threshold && (k === kMax || p[k] >= p[k + 1]) && p[k] >= p[k - 1]) {
      kStar = k;
      break;
    }
  }
  if (kStar === 0) {
    for (let k = kMin; k <= kMax; k++) if (p[k] === best) kStar = k;
  }
  const period = (size * w) / kStar;
  const ratio = threshold > 0 ? best / threshold : 0;

  // Autocorrelation at the period's lag (direct sum over the few lags near it).
  let var0 = 0;
  for (let i = 0; i < bins; i++) var0 += x[i] * x[i];
  const target = ratio > 1 ? period : hintPeriod;
  const lagLo = Math.max(1, Math.floor((0.8 * target) / w));
  const lagHi = Math.min(bins - 1, Math.ceil((1.2 * target) / w));
  let acf = 0;
  if (var0 > 0) {
    for (let lag = lagLo; lag <= lagHi; lag++) {
      let s = 0;
      for (let i = 0; i + lag < bins; i++) s += x[i] * x[i + lag];
      const r = s / var0;
      if (r > acf) acf = r;
    }
  }
  return { period, ratio, acf };
}

/**
 * Scores one pair's check-ins. `n` must be at least 4. `seed` makes the permutation threshold
 * repeatable (the detector derives it from the pair).
 */
export function analyzeCheckins(series: CheckinSeries, seed = 1): PeriodicityResult {
  const { times, n } = series;
  const gaps = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) gaps[i - 1] = Math.max(0, times[i] - times[i - 1]);
  const sortedGaps = sortedCopy(gaps);
  const median0 = quantile(sortedGaps, 0.5);

  // Offline stretches: gaps far beyond the typical one are removed from the time axis.
  let breaks = 0;
  const kept: number[] = [];
  for (let i = 0; i < gaps.length; i++) {
    if (median0 > 0 && gaps[i] > BREAK_FACTOR * median0) breaks++;
    else kept.push(gaps[i]);
  }
  const keptSorted = Float64Array.from(kept).sort();
  const medianGap = quantile(keptSorted, 0.5);

  // Dispersion of the log-gaps (boundedness).
  const q1 = quantile(keptSorted, 0.25);
  const q3 = quantile(keptSorted, 0.75);
  const logIqr = q1 > 0 ? Math.log(q3 / q1) : Number.POSITIVE_INFINITY;
  const dispersion = clamp01(1 - logIqr / 1.5);

  // Compressed time: each offline stretch shortened to one median gap.
  const compressed = new Float64Array(n);
  compressed[0] = 0;
  for (let i = 1; i < n; i++) {
    const g = gaps[i - 1];
    compressed[i] = compressed[i - 1] + (median0 > 0 && g > BREAK_FACTOR * median0 ? medianGap : g);
  }
  const spec = spectrum(compressed, n, medianGap, seed);

  // Folded gaps at the better of two candidate periods: the median gap and the spectral one.
  const candidates = [medianGap];
  if (spec.ratio > 1 && spec.period > 0) candidates.push(spec.period);
  let folded: Folded | undefined;
  const keptArr = Float64Array.from(kept);
  for (const c of candidates) {
    if (!(c > 0)) continue;
    const f = foldGaps(keptArr, keptArr.length, c);
    if (!folded || f.regular > folded.regular) folded = f;
  }
  let period = medianGap;
  let jitter = 0;
  const regularity = folded?.regular ?? 0;
  if (folded && folded.beats > 0 && regularity >= 0.5) {
    // Regular enough to trust the folding: the period is the median per-beat gap.
    const beatSorted = Float64Array.from(folded.perBeat).sort();
    const m = quantile(beatSorted, 0.5);
    if (m > 0) {
      period = m;
      jitter = (quantile(beatSorted, 0.95) - quantile(beatSorted, 0.05)) / (2 * m);
    }
  } else if (medianGap > 0) {
    jitter = (quantile(keptSorted, 0.95) - quantile(keptSorted, 0.05)) / (2 * medianGap);
  }
  // Upper tail: a jittered sleep never waits much longer than its period (Cobalt Strike's
  // p90 / median is at most 1.65 even at 90 % jitter); exponential gaps give 3.3.
  const p90 = quantile(keptSorted, 0.9);
  const tail = medianGap > 0 ? clamp01(1 - (p90 / medianGap - 1.75) / 1.5) : 0;
  // Lower bound: a sleep never fires right after the last check-in (Cobalt Strike at 90 %
  // jitter waits at least 0.1 S), while 16 % of exponential gaps are under a quarter median.
  let short = 0;
  for (let i = 0; i < keptSorted.length && keptSorted[i] < 0.25 * medianGap; i++) short++;
  const floor = keptSorted.length > 0 ? clamp01(1 - short / keptSorted.length / 0.15) : 0;
  // Bounded against exponential: the log-likelihood ratio per gap of a uniform law over the
  // 5-95 % range against an exponential law with the same mean (about +0.5 for Cobalt Strike
  // at 90 % jitter, −0.2 for random arrivals), mapped from [−0.2, 0.5] onto [0, 1].
  let meanGap = 0;
  for (let i = 0; i < keptSorted.length; i++) meanGap += keptSorted[i];
  meanGap /= Math.max(1, keptSorted.length);
  const range90 = quantile(keptSorted, 0.95) - quantile(keptSorted, 0.05);
  const llr = range90 > 0 && meanGap > 0 ? Math.log((meanGap * Math.E * 0.9) / range90) : 1;
  const uniform = clamp01((llr + 0.2) / 0.7);

  const answered = (i: number) => series.resp[i] > 0;
  const so = sizeConsistency(series.orig, n, answered);
  const sr = sizeConsistency(series.resp, n, answered);
  const size = (2 * so.share + sr.share) / 3;

  return {
    period: round(period, 3),
    jitter: round(jitter, 3),
    subscores: {
      gaps: round(regularity, 4),
      dispersion: round(dispersion, 4),
      tail: round(tail, 4),
      floor: round(floor, 4),
      uniform: round(uniform, 4),
      fft: round(clamp01(spec.ratio > 0 ? Math.log2(spec.ratio) / 2 : 0), 4),
      acf: round(clamp01(spec.acf), 4),
      size: round(size, 4),
    },
    detail: {
      beats: folded?.beats ?? 0,
      missed: folded?.missed ?? 0,
      extra: folded?.extra ?? 0,
      breaks,
      median_gap: round(medianGap, 3),
      fft_period: round(spec.period, 3),
      fft_ratio: round(spec.ratio, 3),
      size_orig_median: so.median,
      size_resp_median: sr.median,
    },
  };
}

function clamp01(x: number): number {
  if (!(x > 0)) return 0;
  return Math.min(x, 1);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
