// Stage 1 of the beacon detector: per (source, destination service) pair, constant memory,
// updated for every connection. It keeps what stage 2 needs (the last RING check-ins with their
// sizes) and what decides whether stage 2 is worth running (a log-scale histogram of the gaps
// between check-ins, from which the median and quartiles are read).
//
// Memory per pair: a light pair (one or two check-ins, most of a real network's pairs) is one
// small object; the check-in ring grows 4 → 16 → 64 → RING entries and the histogram appears at
// the third check-in. Measured figures are in the README (bench beacon).

/** Check-ins kept per pair for stage 2. */
export const RING = 128;
/** Histogram bins: three per octave from 0.25 s (bin 0) to 0.25·2^21 s (six days, bin 63). */
export const HIST_BINS = 64;
const HIST_BASE = 0.25;
const BINS_PER_OCTAVE = 3;

export function gapBin(gap: number): number {
  if (!(gap > HIST_BASE)) return 0;
  const b = Math.floor(BINS_PER_OCTAVE * Math.log2(gap / HIST_BASE));
  return b >= HIST_BINS ? HIST_BINS - 1 : b;
}

/** Quantile of the gap histogram, interpolated geometrically inside the bin. */
export function histQuantile(hist: Uint16Array, total: number, q: number): number {
  if (total <= 0) return 0;
  const target = q * total;
  let cum = 0;
  for (let b = 0; b < HIST_BINS; b++) {
    const c = hist[b];
    if (c === 0) continue;
    if (cum + c >= target) {
      const frac = (target - cum) / c;
      return HIST_BASE * 2 ** ((b + frac) / BINS_PER_OCTAVE);
    }
    cum += c;
  }
  return HIST_BASE * 2 ** (HIST_BINS / BINS_PER_OCTAVE);
}

export class PairState {
  /** Segment of the source (fixed when the pair is created). */
  segment: string;
  src: string;
  /** Destination as in the key: server name or addr:port/proto. */
  dest: string;
  respH: string;
  respP: number;
  proto: string;
  server: string | undefined;
  first: number;
  last: number;
  conns = 0;
  /** Connections without an answer (S0, REJ, ...). */
  failed = 0;
  /** Connections merged into the previous check-in (parallel requests, retries). */
  merged = 0;
  checkins = 0;
  /** Start of the latest check-in. */
  lastCheckin = Number.NEGATIVE_INFINITY;
  /** Current period estimate (median gap), refreshed every few check-ins; 0 before. */
  period = 0;
  /** IQR / median of the gaps at the last refresh. */
  spread = Number.POSITIVE_INFINITY;
  hist: Uint16Array | undefined;
  histTotal = 0;
  /** Ring of check-ins: times, bytes sent, bytes received; `head` is the oldest entry. */
  times: Float64Array | undefined;
  orig: Float32Array | undefined;
  resp: Float32Array | undefined;
  head = 0;
  len = 0;
  /** Check-ins when stage 2 last ran, and its event time. */
  scoredAt = 0;
  scoredTs = Number.NEGATIVE_INFINITY;
  /** Latest stage 2 score (0 before) and the highest so far. */
  score = 0;
  maxScore = 0;
  /** UTC day of the last finding, to report a pair at most once per day. */
  reportedDay = -1;
  /** Seen as TLS (Zeek's `ssl` service or port 443). */
  tls = false;
  /** CLOCK bit for eviction. */
  touched = true;

  constructor(segment: string, src: string, dest: string, respH: string, respP: number, proto: string, server: string | undefined, ts: number) {
    this.segment = segment;
    this.src = src;
    this.dest = dest;
    this.respH = respH;
    this.respP = respP;
    this.proto = proto;
    this.server = server;
    this.first = ts;
    this.last = ts;
  }

  /**
   * Adds a connection. Returns true when it started a new check-in, false when it was merged
   * into the latest one.
   */
  add(ts: number, origBytes: number, respBytes: number, failed: boolean, mergeSeconds: number, mergeFraction: number): boolean {
    this.conns++;
    if (failed) this.failed++;
    if (ts > this.last) this.last = ts;
    if (ts < this.first) this.first = ts;
    const window = Math.max(mergeSeconds, mergeFraction * this.period);
    if (this.len > 0 && Math.abs(ts - this.lastCheckin) <= window) {
      this.merged++;
      const i = (this.head + this.len - 1) % this.times!.length;
      this.orig![i] += origBytes;
      this.resp![i] += respBytes;
      return false;
    }
    if (this.len > 0 && ts < this.lastCheckin) {
      this.insertLate(ts, origBytes, respBytes);
      return true;
    }
    if (this.len > 0) {
      const gap = ts - this.lastCheckin;
      if (this.checkins >= 2) {
        if (!this.hist) this.hist = new Uint16Array(HIST_BINS);
        this.addGap(gap);
      } else {
        this.pendingGap = gap;
      }
    }
    this.push(ts, origBytes, respBytes);
    this.lastCheckin = ts;
    this.checkins++;
    if ((this.checkins & 7) === 0 || this.checkins === 5) this.refresh();
    return true;
  }

  /** The first gap, kept until the histogram exists (light pairs never allocate one). */
  private pendingGap = -1;

  private addGap(gap: number): void {
    const hist = this.hist!;
    if (this.pendingGap >= 0) {
      hist[gapBin(this.pendingGap)]++;
      this.histTotal++;
      this.pendingGap = -1;
    }
    const b = gapBin(gap);
    if (hist[b] === 0xffff) {
      // Saturated: halve every bin (the histogram then weighs recent gaps more).
      let total = 0;
      for (let i = 0; i < HIST_BINS; i++) {
        hist[i] >>>= 1;
        total += hist[i];
      }
      this.histTotal = total;
    }
    hist[b]++;
    this.histTotal++;
  }

  /** Re-estimates the period and spread from the histogram. */
  refresh(): void {
    if (!this.hist || this.histTotal < 3) return;
    const median = histQuantile(this.hist, this.histTotal, 0.5);
    const q1 = histQuantile(this.hist, this.histTotal, 0.25);
    const q3 = histQuantile(this.hist, this.histTotal, 0.75);
    this.period = median;
    this.spread = median > 0 ? (q3 - q1) / median : Number.POSITIVE_INFINITY;
  }

  private push(ts: number, o: number, r: number): void {
    let cap = this.times ? this.times.length : 0;
    if (this.len === cap) {
      if (cap < RING) this.grow(cap === 0 ? 4 : cap * 4);
      else {
        this.head = (this.head + 1) % cap;
        this.len--;
      }
      cap = this.times!.length;
    }
    const i = (this.head + this.len) % cap;
    this.times![i] = ts;
    this.orig![i] = o;
    this.resp![i] = r;
    this.len++;
  }

  private grow(cap: number): void {
    const times = new Float64Array(Math.min(cap, RING));
    const orig = new Float32Array(times.length);
    const resp = new Float32Array(times.length);
    for (let k = 0; k < this.len; k++) {
      const i = (this.head + k) % this.times!.length;
      times[k] = this.times![i];
      orig[k] = this.orig![i];
      resp[k] = this.resp![i];
    }
    this.times = times;
    this.orig = orig;
    this.resp = resp;
    this.head = 0;
  }

  /** A check-in older than the latest one (Zeek logs by end time): insert it in order. */
  private insertLate(ts: number, o: number, r: number): void {
    this.push(ts, o, r);
    this.checkins++;
    const cap = this.times!.length;
    let k = this.len - 1;
    while (k > 0) {
      const i = (this.head + k) % cap;
      const j = (this.head + k - 1) % cap;
      if (this.times![j] <= this.times![i]) break;
      swap(this.times!, i, j);
      swap(this.orig!, i, j);
      swap(this.resp!, i, j);
      k--;
    }
  }

  /** The ring in time order, as plain arrays of length `len` (stage 2 input). */
  series(): { times: Float64Array; orig: Float64Array; resp: Float64Array; n: number } {
    const n = this.len;
    const times = new Float64Array(n);
    const orig = new Float64Array(n);
    const resp = new Float64Array(n);
    const cap = this.times ? this.times.length : 0;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) % cap;
      times[k] = this.times![i];
      orig[k] = this.orig![i];
      resp[k] = this.resp![i];
    }
    return { times, orig, resp, n };
  }

  /** Compact form for snapshots. */
  toJSON(): unknown {
    const s = this.series();
    return [
      this.segment,
      this.src,
      this.dest,
      this.respH,
      this.respP,
      this.proto,
      this.server ?? null,
      this.first,
      this.last,
      this.conns,
      this.failed,
      this.merged,
      this.checkins,
      Number.isFinite(this.lastCheckin) ? this.lastCheckin : null,
      this.hist ? [...this.hist] : null,
      this.pendingGap,
      [...s.times],
      [...s.orig],
      [...s.resp],
      this.reportedDay,
      this.score,
      this.tls,
    ];
  }

  static fromJSON(a: unknown[]): PairState {
    const p = new PairState(
      a[0] as string,
      a[1] as string,
      a[2] as string,
      a[3] as string,
      a[4] as number,
      a[5] as string,
      (a[6] as string | null) ?? undefined,
      a[7] as number,
    );
    p.last = a[8] as number;
    p.conns = a[9] as number;
    p.failed = a[10] as number;
    p.merged = a[11] as number;
    p.checkins = a[12] as number;
    p.lastCheckin = (a[13] as number | null) ?? Number.NEGATIVE_INFINITY;
    const hist = a[14] as number[] | null;
    if (hist) {
      p.hist = Uint16Array.from(hist);
      p.histTotal = hist.reduce((x, y) => x + y, 0);
    }
    p.pendingGap = a[15] as number;
    const times = a[16] as number[];
    const orig = a[17] as number[];
    const resp = a[18] as number[];
    if (times.length > 0) {
      let cap = 4;
      while (cap < times.length) cap *= 4;
      p.times = new Float64Array(Math.min(cap, RING));
      p.orig = new Float32Array(p.times.length);
      p.resp = new Float32Array(p.times.length);
      p.times.set(times);
      p.orig.set(orig);
      p.resp.set(resp);
      p.len = times.length;
    }
    p.reportedDay = a[19] as number;
    p.score = a[20] as number;
    p.tls = a[21] === true;
    p.refresh();
    return p;
  }
}

function swap(a: Float64Array | Float32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
