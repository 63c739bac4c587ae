// Reference scorer for the beacon benchmark: a re-implementation of the beacon score that RITA
// v5 (Active Countermeasures, github.com/activecm/rita) publishes, so our detector can be
// compared with the tool most people would reach for.
//
// Source read: activecm/rita tag v5.1.1, commit a3c51501a93af9ab0ebbed0f15f431bcf536ddf1.
//   - analysis/beacons.go      all four sub-scores and the weighted total
//   - analysis/analysis.go     which pairs are scored (unique-timestamp and strobe thresholds)
//   - analysis/spagooper.go    the ClickHouse queries that build the per-pair lists, the SNI vs
//                              IP grouping and the "last 24 hours" hour filter
//   - database/tables.go       the uconn / usni materialized views (what goes into ts_list and
//                              the bytes list) and the min_max view (dataset bounds)
//   - database/db.go           GetBeaconMinMaxTimestamps (dataset window = last 24 h of the data)
//   - importer/conn.go, importer/ssl.go, importer/http.go   timestamp truncation, pair hashes
//   - default_config.hjson     the constants below
//   - montanaflynn/stats v0.7.1 (RITA's go.mod): Quartile, Median, MedianAbsoluteDeviation
// The code and comments here are our own; only the arithmetic follows RITA.
//
// Constants (default_config.hjson unless noted):
//   UNIQUE_CONNECTION_THRESHOLD = 4     a pair needs at least this many distinct timestamps
//                                       (whole seconds) to be scored
//   STROBE_CONNECTIONS = 86400          pairs with this many connections or more are strobes and
//                                       are not beacon-scored (hard-coded in analysis.go / SQL)
//   WEIGHT_TS = WEIGHT_DS = WEIGHT_DUR = WEIGHT_HIST = 0.25   weights of the four sub-scores
//   DURATION_MIN_HOURS_SEEN = 6         histogram bars needed before the duration score is non-zero
//   DURATION_IDEAL_HOURS = 12           longest run of busy hours that gives consistency 1
//   HISTOGRAM_MODE_SENSITIVITY = 0.05   bucket width of the bar-height grouping, as a fraction of
//                                       the tallest bar
//   HISTOGRAM_OUTLIER_REMOVAL = 1       bars that the bimodal fit may ignore
//   HISTOGRAM_BIMODAL_MIN_HOURS = 11    bars needed before the bimodal fit is computed
//   HISTOGRAM_BINS = 24                 bins over the dataset window (beacons.go passes 24)
//   BOWLEY_MIN_IQR = 10                 Bowley skew is taken as 0 when Q3 - Q1 < 10 (beacons.go)
//   DATASET_SPAN = 86400                the dataset window is at most the last 24 h (db.go)
//   LONG_CONNECTION_BASE = 3600         total duration that makes an SNI pair a long connection;
//                                       only used for the SNI/IP de-duplication (spagooper.go)
//
// The score, as v5 computes it for one pair (timestamps in whole seconds, sorted):
//   ts   = round3((tsSkewScore + tsMadScore) / 2) over the sorted gaps between consecutive
//          timestamps with the zero gaps (duplicate timestamps) removed;
//   ds   = round3((dsSkewScore + dsMadScore) / 2) over every connection's orig_ip_bytes
//          (RITA's src_ip_bytes, duplicates kept);
//     skewScore = 1 - |Bowley skew|, Bowley = (Q1 + Q3 - 2 Q2) / (Q3 - Q1), forced to 0 when
//       Q3 - Q1 < 10 or Q2 equals Q1 or Q3; quartiles are Tukey-style hinges (the medians of the
//       lower and upper halves, the middle element excluded for odd n);
//     madScore = (median - MAD) / median when median >= 1, else 1 for ts and 0 for ds; clamped
//       at 0; MAD = median of |x - median|;
//   hist = max(cvScore, bimodalScore) over 24 equal bins spanning the dataset window:
//     cvScore = 0 if cv > 1 else round3(1 - cv), cv = population sd / mean of the 24 counts;
//     bimodalScore (only with >= 11 non-empty bins) = round3((n1 + n2) / max(bars - 1, 1)),
//       capped at 1, where bar heights are grouped into buckets of ceil(0.05 * tallest) and
//       n1, n2 are the sizes of the two most common buckets;
//   dur  = 0 with fewer than 6 non-empty bins, else max(coverage, consistency):
//     coverage = ceil3((last ts - first ts) / (dataset end - dataset start)), capped at 1;
//     consistency = ceil3(longest run of non-empty bins, wrapping around / 12), capped at 1;
//   score = round3(0.25 ts + 0.25 ds + 0.25 dur + 0.25 hist).
// round3 is Go's math.Round(x*1000)/1000 and ceil3 math.Ceil(x*1000)/1000; every value rounded
// here is non-negative, where JavaScript's Math.round agrees with Go's.
//
// Differences from RITA v4 (MongoDB, now activecm/rita-legacy, pkg/beacon/analyzer.go), for the
// record; v5 is what is implemented:
//   - v4 took quartiles and the median as single elements at rounded positions
//     (x[round(0.25 (n-1))] ...), v5 uses the stats package hinges and averaged medians;
//   - v4 rounded the ts, ds, hist and total scores up (ceil3), v5 rounds to nearest
//     (duration's coverage/consistency are ceil3 in both);
//   - v4's data size score averaged three parts: skew, MAD and "smallness" = 1 - mode / 65535;
//     v5 dropped smallness;
//   - v4 grouped by IP pair only; v5 adds SNI/Host (src -> FQDN) beacons.
//
// Literal readings where RITA's intent is unclear:
//   - A Zeek field that is unset (`-`) is read as 0 by RITA's parser; an orig_ip_bytes that is
//     undefined here counts as 0 bytes. The data size score therefore needs orig_ip_bytes.
//   - RITA assumes ts_list is sorted (the SQL sorts it); we sort, so input order never matters.
//   - Timestamps are truncated to whole seconds (Go's time.Unix(int64(ts), 0)), and so are the
//     dataset bounds (ClickHouse DateTime).
//   - Timestamps before the first bin edge (possible because the SQL keeps the whole hour that
//     contains the dataset start) land in bin 0, and those after the last edge in bin 23, exactly
//     as RITA's histogram loop does.

import type { FlowRecord } from '../../collectors/record.js';
import { pairKeyOf } from '../../detectors/beacon/key.js';

export const RITA_VERSION = 'activecm/rita v5.1.1 (a3c51501a93af9ab0ebbed0f15f431bcf536ddf1)';

export const UNIQUE_CONNECTION_THRESHOLD = 4;
export const STROBE_CONNECTIONS = 86400;
export const WEIGHT_TS = 0.25;
export const WEIGHT_DS = 0.25;
export const WEIGHT_DUR = 0.25;
export const WEIGHT_HIST = 0.25;
export const DURATION_MIN_HOURS_SEEN = 6;
export const DURATION_IDEAL_HOURS = 12;
export const HISTOGRAM_MODE_SENSITIVITY = 0.05;
export const HISTOGRAM_OUTLIER_REMOVAL = 1;
export const HISTOGRAM_BIMODAL_MIN_HOURS = 11;
export const HISTOGRAM_BINS = 24;
export const BOWLEY_MIN_IQR = 10;
export const DATASET_SPAN = 86400;
export const LONG_CONNECTION_BASE = 3600;

export interface RitaConn {
  ts: number;
  orig_bytes?: number;
  resp_bytes?: number;
  orig_ip_bytes?: number;
  resp_ip_bytes?: number;
  duration?: number;
}

export interface RitaScore {
  /** Weighted total, 0..1, rounded to 3 decimals. */
  score: number;
  /** Timestamp (gap regularity) sub-score. */
  ts: number;
  /** Data size (orig_ip_bytes regularity) sub-score. */
  ds: number;
  /** Histogram (connections per bin over the dataset window) sub-score. */
  hist: number;
  /** Duration (coverage / consistency) sub-score. */
  dur: number;
  /** Connections scored and distinct whole-second timestamps among them. */
  count: number;
  uniqueTs: number;
  /** Bowley skew and MAD of the non-zero gaps (seconds). */
  tsSkew: number;
  tsMadm: number;
  /** Most common gap (zero gaps included, as RITA reports it) and how often it occurs. */
  tsMode: number;
  tsModeCount: number;
  /** Bowley skew and MAD of the byte counts. */
  dsSkew: number;
  dsMadm: number;
  dsMode: number;
  dsModeCount: number;
  /** Connections per bin (24 bins over the dataset window). */
  histogram: number[];
  /** Non-empty bins and the longest run of them, wrapping around. */
  totalBars: number;
  longestRun: number;
  cvScore: number;
  bimodalScore: number;
  coverage: number;
  consistency: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const ceil3 = (x: number): number => Math.ceil(x * 1000) / 1000;

/** Median of an ascending array (mean of the two middle values for even length). */
function medianSorted(a: readonly number[]): number {
  const n = a.length;
  if (n === 0) return Number.NaN;
  const h = Math.floor(n / 2);
  return n % 2 === 0 ? (a[h - 1] + a[h]) / 2 : a[h];
}

/** Quartiles as montanaflynn/stats v0.7.1 computes them: medians of the two halves, middle excluded. */
export function quartiles(sorted: readonly number[]): { q1: number; q2: number; q3: number } {
  const n = sorted.length;
  const lowEnd = n % 2 === 0 ? n / 2 : (n - 1) / 2;
  const highStart = n % 2 === 0 ? n / 2 : lowEnd + 1;
  return {
    q1: medianSorted(sorted.slice(0, lowEnd)),
    q2: medianSorted(sorted),
    q3: medianSorted(sorted.slice(highStart)),
  };
}

/** Bowley skew with RITA's guard, and its score 1 - |skew|. Input ascending, length >= 3. */
export function bowleySkew(sorted: readonly number[]): { skew: number; score: number } {
  const { q1, q2, q3 } = quartiles(sorted);
  const den = q3 - q1;
  let skew = 0;
  if (den >= BOWLEY_MIN_IQR && q2 !== q1 && q2 !== q3) skew = (q1 + q3 - 2 * q2) / den;
  return { skew, score: 1 - Math.abs(skew) };
}

/** Median absolute deviation about the median, and RITA's score for it. Input ascending. */
export function madScore(sorted: readonly number[], defaultScore: number): { mad: number; score: number } {
  const median = medianSorted(sorted);
  const devs = sorted.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  const mad = medianSorted(devs);
  let score = defaultScore;
  if (median >= 1) score = (median - mad) / median;
  if (score < 0 || Number.isNaN(score)) score = 0;
  return { mad, score };
}

/** Skew and MAD parts combined: round3 of their mean. */
function statisticalScore(sorted: readonly number[], defaultMad: number): { score: number; skew: number; mad: number } {
  const s = bowleySkew(sorted);
  const m = madScore(sorted, defaultMad);
  return { score: round3((s.score + m.score) / 2), skew: s.skew, mad: m.mad };
}

/** Most common value of an ascending array (the smallest on a tie, as RITA's scan finds it). */
function modeOf(sorted: readonly number[]): { mode: number; count: number } {
  let mode = sorted[0];
  let best = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (j - i > best) {
      best = j - i;
      mode = sorted[i];
    }
    i = j;
  }
  return { mode, count: best };
}

/** The 25 bin edges: start, start + i * step, end, in float arithmetic like RITA's. */
function binEdges(start: number, end: number, bins: number): number[] {
  const step = (end - start) / bins;
  const edges = new Array<number>(bins + 1);
  edges[0] = start;
  for (let i = 1; i < bins; i++) edges[i] = start + i * step;
  edges[bins] = end;
  return edges;
}

/** Counts of ascending timestamps per bin, following RITA's single forward scan. */
function histogramOf(edges: readonly number[], sortedTs: readonly number[]): number[] {
  const bins = edges.length - 1;
  const hist = new Array<number>(bins).fill(0);
  let cur = 0;
  let next = edges[1];
  for (const t of sortedTs) {
    if (t < next) {
      hist[cur]++;
      continue;
    }
    for (let j = cur + 1; j < bins; j++) {
      cur = j;
      next = edges[j + 1];
      if (t < edges[j + 1]) break;
    }
    hist[cur]++;
  }
  return hist;
}

/** Bar-height buckets (bucket -> number of bars), non-empty bars, and the longest wrapped run. */
function frequencyCounts(hist: readonly number[]): { freq: Map<number, number>; totalBars: number; longestRun: number } {
  let totalBars = 0;
  let tallest = 0;
  for (const h of hist) {
    if (h > 0) totalBars++;
    if (h > tallest) tallest = h;
  }
  const bucket = Math.ceil(tallest * HISTOGRAM_MODE_SENSITIVITY);
  const freq = new Map<number, number>();
  let longestRun = 0;
  let run = 0;
  const n = hist.length;
  for (let i = 0; i < 2 * n; i++) {
    const h = hist[i % n];
    if (h > 0) {
      run++;
    } else {
      if (run > longestRun) longestRun = run;
      run = 0;
    }
    if (i < n && h > 0) {
      const key = Math.floor(h / bucket) * bucket;
      freq.set(key, (freq.get(key) ?? 0) + 1);
    }
  }
  if (run > longestRun) longestRun = run;
  if (longestRun > n) longestRun = n;
  return { freq, totalBars, longestRun };
}

function cvScoreOf(hist: readonly number[]): number {
  const total = hist.reduce((a, b) => a + b, 0);
  const mean = total / hist.length;
  let ss = 0;
  for (const h of hist) ss += Math.pow(h - mean, 2);
  const sd = Math.sqrt(ss / hist.length);
  const cv = sd / Math.abs(mean);
  const score = cv > 1 ? 0 : round3(1 - cv);
  return Math.min(score, 1);
}

function bimodalScoreOf(freq: ReadonlyMap<number, number>, totalBars: number): number {
  let fit = 0;
  if (totalBars >= HISTOGRAM_BIMODAL_MIN_HOURS) {
    let largest = 0;
    let second = 0;
    for (const v of freq.values()) {
      if (v > largest) {
        second = largest;
        largest = v;
      } else if (v > second) {
        second = v;
      }
    }
    fit = (largest + second) / Math.max(totalBars - HISTOGRAM_OUTLIER_REMOVAL, 1);
  }
  return Math.min(round3(fit), 1);
}

/**
 * Scores one pair's connections (any order) over the dataset window [first, last] of the whole
 * import (RITA: max(min ts, max ts - 24 h) .. max ts). Returns undefined when RITA would not score
 * the pair: fewer than 4 distinct whole-second timestamps, 86400 connections or more (a strobe),
 * or an empty dataset window. The caller applies RITA's hour filter (ritaScoreFlows does).
 */
export function ritaBeaconScore(
  conns: readonly RitaConn[],
  datasetStart: number,
  datasetEnd: number,
): RitaScore | undefined {
  const dsMin = Math.trunc(datasetStart);
  const dsMax = Math.trunc(datasetEnd);
  if (!(dsMax > dsMin)) return undefined;
  const count = conns.length;
  if (count >= STROBE_CONNECTIONS) return undefined;

  const ts = conns.map((c) => Math.trunc(c.ts)).sort((a, b) => a - b);
  let uniqueTs = 0;
  for (let i = 0; i < ts.length; i++) if (i === 0 || ts[i] !== ts[i - 1]) uniqueTs++;
  if (uniqueTs < UNIQUE_CONNECTION_THRESHOLD) return undefined;

  // Timestamp score: gaps of the full sorted list, sorted; zero gaps are kept for the mode
  // (RITA's graph data) and dropped for the statistics.
  const gapsFull: number[] = [];
  for (let i = 0; i + 1 < ts.length; i++) gapsFull.push(ts[i + 1] - ts[i]);
  gapsFull.sort((a, b) => a - b);
  const gaps = gapsFull.filter((g) => g > 0);
  const tsMode = modeOf(gapsFull);
  const tsStat = statisticalScore(gaps, 1);

  // Data size score: one orig_ip_bytes per connection, duplicates kept.
  const bytes = conns.map((c) => c.orig_ip_bytes ?? 0).sort((a, b) => a - b);
  const dsMode = modeOf(bytes);
  const dsStat = statisticalScore(bytes, 0);

  // Histogram score.
  const hist = histogramOf(binEdges(dsMin, dsMax, HISTOGRAM_BINS), ts);
  const { freq, totalBars, longestRun } = frequencyCounts(hist);
  const cvScore = cvScoreOf(hist);
  const bimodalScore = bimodalScoreOf(freq, totalBars);
  const histScore = Math.max(cvScore, bimodalScore);

  // Duration score.
  let coverage = 0;
  let consistency = 0;
  let durScore = 0;
  if (totalBars >= DURATION_MIN_HOURS_SEEN) {
    coverage = Math.min(ceil3((ts[ts.length - 1] - ts[0]) / (dsMax - dsMin)), 1);
    consistency = Math.min(ceil3(longestRun / DURATION_IDEAL_HOURS), 1);
    durScore = Math.max(coverage, consistency);
  }

  const score = round3(
    tsStat.score * WEIGHT_TS + dsStat.score * WEIGHT_DS + durScore * WEIGHT_DUR + histScore * WEIGHT_HIST,
  );

  return {
    score,
    ts: tsStat.score,
    ds: dsStat.score,
    hist: histScore,
    dur: durScore,
    count,
    uniqueTs,
    tsSkew: tsStat.skew,
    tsMadm: tsStat.mad,
    tsMode: tsMode.mode,
    tsModeCount: tsMode.count,
    dsSkew: dsStat.skew,
    dsMadm: dsStat.mad,
    dsMode: dsMode.mode,
    dsModeCount: dsMode.count,
    histogram: hist,
    totalBars,
    longestRun,
    cvScore,
    bimodalScore,
    coverage,
    consistency,
  };
}

interface Group {
  flows: FlowRecord[];
  ts: Set<number>;
  duration: number;
}

function addTo(groups: Map<string, Group>, key: string, f: FlowRecord): void {
  let g = groups.get(key);
  if (g === undefined) {
    g = { flows: [], ts: new Set(), duration: 0 };
    groups.set(key, g);
  }
  g.flows.push(f);
  g.ts.add(Math.trunc(f.ts));
  g.duration += f.duration ?? 0;
}

const eligible = (g: Group): boolean => g.ts.size >= UNIQUE_CONNECTION_THRESHOLD && g.flows.length < STROBE_CONNECTIONS;

/**
 * Groups FlowRecords the way RITA v5 groups them and scores every group.
 *
 * What RITA v5 does (spagooper.go, tables.go):
 *   - The dataset window is [max(first ts, last ts - 24 h), last ts] of the imported conn
 *     records, and only rows whose hour (toStartOfHour(ts)) is at or after the hour of the window
 *     start are read. Here the flows are first restricted to `window` (the benchmark's
 *     observation window); RITA's bounds are then taken from the remaining flows. Interim
 *     records (connections still open) are skipped: RITA's open conns carry no timestamps.
 *   - SNI beacons: every SSL (SNI) and HTTP (Host) record, with its conn's ts and
 *     orig_ip_bytes, grouped by (source, server name) across all destination addresses.
 *     Here: flows with a non-empty server_name, grouped by pairKeyOf (which lower-cases the
 *     name; RITA compares it as logged). Our server_name may also come from a DNS answer, which
 *     RITA would not use for this grouping.
 *   - IP beacons: every conn record grouped by (source address, destination address) over all
 *     ports and protocols. An IP pair is left out entirely when any of its connections belongs
 *     to an SNI pair that is a beacon candidate (>= 4 distinct timestamps and < 86400
 *     connections) or a long connection (total duration >= 3600 s).
 *
 * Keys: the map is keyed by pairKeyOf() so the benchmark can join with its labels. An SNI
 * group maps to exactly one key. An IP group covers every port/protocol (and every
 * non-qualifying server name) to that address, so its score is written under each pairKeyOf()
 * key of its flows; where a key receives scores from several RITA groups the highest is kept.
 * A key absent from the map is a pair RITA would not beacon-score.
 */
export function ritaScoreFlows(flows: readonly FlowRecord[], window: [number, number]): Map<string, RitaScore> {
  const out = new Map<string, RitaScore>();
  const inWindow = flows.filter((f) => f.interim !== true && f.ts >= window[0] && f.ts <= window[1]);
  if (inWindow.length === 0) return out;

  let first = Infinity;
  let last = -Infinity;
  for (const f of inWindow) {
    const t = Math.trunc(f.ts);
    if (t < first) first = t;
    if (t > last) last = t;
  }
  const datasetStart = Math.max(first, last - DATASET_SPAN);
  const datasetEnd = last;
  const hourFloor = Math.floor(datasetStart / 3600) * 3600;
  const used = inWindow.filter((f) => Math.trunc(f.ts) >= hourFloor);

  const sni = new Map<string, Group>();
  const ip = new Map<string, Group>();
  for (const f of used) {
    if (f.server_name !== undefined && f.server_name !== '') addTo(sni, pairKeyOf(f), f);
    addTo(ip, `${f.orig_h}>${f.resp_h}`, f);
  }

  const claimed = new Set<FlowRecord>();
  for (const g of sni.values()) {
    if (eligible(g) || g.duration >= LONG_CONNECTION_BASE) for (const f of g.flows) claimed.add(f);
  }

  const put = (key: string, s: RitaScore): void => {
    const prev = out.get(key);
    if (prev === undefined || s.score > prev.score) out.set(key, s);
  };
  const conn = (f: FlowRecord): RitaConn => ({
    ts: f.ts,
    orig_bytes: f.orig_bytes,
    resp_bytes: f.resp_bytes,
    orig_ip_bytes: f.orig_ip_bytes,
    resp_ip_bytes: f.resp_ip_bytes,
    duration: f.duration,
  });

  for (const [key, g] of sni) {
    if (!eligible(g)) continue;
    const s = ritaBeaconScore(g.flows.map(conn), datasetStart, datasetEnd);
    if (s !== undefined) put(key, s);
  }
  for (const g of ip.values()) {
    if (!eligible(g) || g.flows.some((f) => claimed.has(f))) continue;
    const s = ritaBeaconScore(g.flows.map(conn), datasetStart, datasetEnd);
    if (s === undefined) continue;
    for (const key of new Set(g.flows.map((f) => pairKeyOf(f)))) put(key, s);
  }
  return out;
}
