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
  /** Connections held open for half a period or more (push channels, streams), not check-ins. */
  held = 0;
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
  /**
   * Ring of check-ins, three floats each: time since `base`, bytes sent, bytes received; `head`
   * is the oldest entry. Float32 keeps 60 ms resolution eleven days after `base`, far finer
   * than the merge window. The first check-in lives in the fields below, so a pair seen once
   * allocates no array at all.
   */
  ring: Float32Array | undefined;
  readonly base: number;
  private t0 = 0;
  private o0 = 0;
  private r0 = 0;
  head = 0;
  len = 0;
  /** Passed the stage 1 gate (stays so: stage 2 decides from then on). */
  candidate = false;
  /** Check-ins when stage 2 last ran, and its event time. */
  scoredAt = 0;
  scoredTs = Number.NEGATIVE_INFINITY;
  /** Latest stage 2 score (0 before) and the highest so far. */
  score = 0;
  maxScore = 0;
  /** UTC day of the last finding, to report a pair at most once per day. */
  reportedDay = -1;
  /** PairIndex links: the destination head it is filed under, and the next pair with that head. */
  indexHead = '';
  sibling: PairState | undefined;
  /** Seen as TLS (Zeek's `ssl` service or port 443). */
  tls = false;
  /**
   * CLOCK bit for eviction: set by every connection after the first, cleared by the sweeping
   * hand. A pair seen once is evicted when the hand reaches it (a flood of one-off pairs evicts
   * itself); a pair seen again since the last sweep gets a second chance.
   */
  touched = false;

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
    this.base = ts;
  }

  /**
   * Adds a connection. Returns true when it started a new check-in, false when it was merged
   * into the latest one.
   */
  add(
    ts: number,
    origBytes: number,
    respBytes: number,
    failed: boolean,
    mergeSeconds: number,
    mergeFraction: number,
    duration = 0,
  ): boolean {
    this.conns++;
    if (failed) this.failed++;
    if (duration >= (this.period > 0 ? 0.5 * this.period : 30)) this.held++;
    if (ts > this.last) this.last = ts;
    if (ts < this.first) this.first = ts;
    const window = Math.max(mergeSeconds, mergeFraction * this.period);
    if (this.len > 0 && Math.abs(ts - this.lastCheckin) <= window) {
      this.merged++;
      if (this.ring === undefined) {
        this.o0 += origBytes;
        this.r0 += respBytes;
      } else {
        const i = 3 * ((this.head + this.len - 1) % (this.ring.length / 3));
        this.ring[i + 1] += origBytes;
        this.ring[i + 2] += respBytes;
      }
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

  private get cap(): number {
    return this.ring === undefined ? 1 : this.ring.length / 3;
  }

  private push(ts: number, o: number, r: number): void {
    if (this.len === 0 && this.ring === undefined) {
      this.t0 = ts - this.base;
      this.o0 = o;
      this.r0 = r;
      this.len = 1;
      return;
    }
    let cap = this.cap;
    if (this.len === cap) {
      if (cap < RING) this.grow(cap === 1 ? 4 : Math.min(RING, cap * 4));
      else {
        this.head = (this.head + 1) % cap;
        this.len--;
      }
      cap = this.cap;
    }
    const i = 3 * ((this.head + this.len) % cap);
    const ring = this.ring!;
    ring[i] = ts - this.base;
    ring[i + 1] = o;
    ring[i + 2] = r;
    this.len++;
  }

  private grow(cap: number): void {
    const ring = new Float32Array(3 * cap);
    if (this.ring === undefined) {
      ring[0] = this.t0;
      ring[1] = this.o0;
      ring[2] = this.r0;
    } else {
      const old = this.ring;
      const oldCap = old.length / 3;
      for (let k = 0; k < this.len; k++) {
        const i = 3 * ((this.head + k) % oldCap);
        ring[3 * k] = old[i];
        ring[3 * k + 1] = old[i + 1];
        ring[3 * k + 2] = old[i + 2];
      }
    }
    this.ring = ring;
    this.head = 0;
  }

  /** A check-in older than the latest one (Zeek logs by end time): insert it in order. */
  private insertLate(ts: number, o: number, r: number): void {
    if (this.ring === undefined) this.grow(4);
    this.push(ts, o, r);
    this.checkins++;
    const ring = this.ring!;
    const cap = this.cap;
    let k = this.len - 1;
    while (k > 0) {
      const i = 3 * ((this.head + k) % cap);
      const j = 3 * ((this.head + k - 1) % cap);
      if (ring[j] <= ring[i]) break;
      for (let c = 0; c < 3; c++) {
        const t = ring[i + c];
        ring[i + c] = ring[j + c];
        ring[j + c] = t;
      }
      k--;
    }
  }

  /** The ring in time order, as arrays of length `n` (stage 2 input). */
  series(): { times: Float64Array; orig: Float64Array; resp: Float64Array; n: number } {
    const n = this.len;
    const times = new Float64Array(n);
    const orig = new Float64Array(n);
    const resp = new Float64Array(n);
    if (this.ring === undefined) {
      if (n === 1) {
        times[0] = this.base + this.t0;
        orig[0] = this.o0;
        resp[0] = this.r0;
      }
      return { times, orig, resp, n };
    }
    const cap = this.cap;
    for (let k = 0; k < n; k++) {
      const i = 3 * ((this.head + k) % cap);
      times[k] = this.base + this.ring[i];
      orig[k] = this.ring[i + 1];
      resp[k] = this.ring[i + 2];
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
      this.held,
      this.candidate,
      Number.isFinite(this.scoredTs) ? this.scoredTs : null,
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
    for (let k = 0; k < times.length; k++) p.push(times[k], orig[k], resp[k]);
    p.reportedDay = a[19] as number;
    p.score = a[20] as number;
    p.tls = a[21] === true;
    p.held = typeof a[22] === 'number' ? a[22] : 0;
    p.candidate = a[23] === true;
    p.scoredTs = typeof a[24] === 'number' ? a[24] : Number.NEGATIVE_INFINITY;
    p.refresh();
    return p;
  }
}


/**
 * The pairs, found without building a key string per connection (concatenating one costs more
 * than everything else stage 1 does): source → destination head (server name, or responder
 * address) → the pairs with that head, chained by responder port and transport when unnamed.
 * Eviction is CLOCK over sources: the hand visits one source at a time, evicting its pairs not
 * touched since the last visit and clearing the bit of the others.
 */
export class PairIndex {
  private bySrc = new Map<string, Map<string, PairState>>();
  private hand: Iterator<[string, Map<string, PairState>]> | undefined;
  size = 0;

  find(src: string, head: string, named: boolean, port: number, proto: string): PairState | undefined {
    const inner = this.bySrc.get(src);
    if (inner === undefined) return undefined;
    for (let p = inner.get(head); p !== undefined; p = p.sibling) {
      if (named ? p.server !== undefined : p.server === undefined && p.respP === port && p.proto === proto) return p;
    }
    return undefined;
  }

  insert(pair: PairState, head: string): void {
    let inner = this.bySrc.get(pair.src);
    if (inner === undefined) {
      inner = new Map();
      this.bySrc.set(pair.src, inner);
    }
    pair.indexHead = head;
    pair.sibling = inner.get(head);
    inner.set(head, pair);
    this.size++;
  }

  /** Evicts at least one pair (unless empty); calls `evicted` for each. */
  evict(evicted: (p: PairState) => void): void {
    let removed = 0;
    for (let guard = 0; removed === 0 && guard <= 2 * this.bySrc.size + 1; guard++) {
      if (!this.hand) this.hand = this.bySrc.entries();
      const next = this.hand.next();
      if (next.done) {
        this.hand = undefined;
        continue;
      }
      const [src, inner] = next.value;
      for (const [head, first] of inner) {
        let keep: PairState | undefined;
        let last: PairState | undefined;
        for (let p: PairState | undefined = first; p !== undefined; ) {
          const following: PairState | undefined = p.sibling;
          if (p.touched) {
            p.touched = false;
            p.sibling = undefined;
            if (last) last.sibling = p;
            else keep = p;
            last = p;
          } else {
            removed++;
            this.size--;
            evicted(p);
          }
          p = following;
        }
        if (keep) inner.set(head, keep);
        else inner.delete(head);
      }
      if (inner.size === 0) this.bySrc.delete(src);
    }
  }

  /** Distinct sources with at least one tracked pair. */
  get sources(): number {
    return this.bySrc.size;
  }

  *values(): IterableIterator<PairState> {
    for (const inner of this.bySrc.values()) {
      for (const first of inner.values()) for (let p: PairState | undefined = first; p; p = p.sibling) yield p;
    }
  }

  clear(): void {
    this.bySrc = new Map();
    this.hand = undefined;
    this.size = 0;
  }
}
