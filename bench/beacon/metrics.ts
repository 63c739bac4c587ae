// Detection-quality measures for a scored, labelled set: PR-AUC (average precision), recall at a
// fixed false-positive rate, and the threshold that gives it.

export interface Scored {
  score: number;
  positive: boolean;
}

/** Average precision: the area under the precision-recall curve, step-wise (ties grouped). */
export function averagePrecision(items: readonly Scored[]): number {
  const positives = items.filter((i) => i.positive).length;
  if (positives === 0) return 0;
  const sorted = [...items].sort((a, b) => b.score - a.score);
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let prevRecall = 0;
  for (let i = 0; i < sorted.length; ) {
    const s = sorted[i].score;
    // A tie block is one threshold: all its items enter together.
    while (i < sorted.length && sorted[i].score === s) {
      if (sorted[i].positive) tp++;
      else fp++;
      i++;
    }
    const recall = tp / positives;
    const precision = tp / (tp + fp);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
  }
  return ap;
}

/**
 * The lowest threshold whose false-positive rate (negatives scoring >= threshold, over all
 * negatives) stays at or below `fpr`, and the recall there. A score of 0 never alerts.
 */
export function recallAtFpr(items: readonly Scored[], fpr: number): { recall: number; threshold: number; fp: number } {
  const negatives = items.filter((i) => !i.positive).map((i) => i.score).sort((a, b) => b - a);
  const allowed = Math.floor(fpr * negatives.length);
  // Threshold just above the (allowed+1)-th highest negative score.
  const above = negatives[allowed];
  let threshold = above === undefined ? 0 : nextUp(above);
  threshold = Math.max(threshold, Number.MIN_VALUE);
  const positives = items.filter((i) => i.positive);
  const tp = positives.filter((i) => i.score >= threshold).length;
  const fp = negatives.filter((s) => s >= threshold).length;
  return { recall: positives.length > 0 ? tp / positives.length : 0, threshold, fp };
}

/** Recall and false-positive rate at a given threshold. */
export function atThreshold(items: readonly Scored[], threshold: number): { recall: number; fpr: number; fp: number } {
  let tp = 0;
  let p = 0;
  let fp = 0;
  let n = 0;
  for (const i of items) {
    if (i.positive) {
      p++;
      if (i.score >= threshold && i.score > 0) tp++;
    } else {
      n++;
      if (i.score >= threshold && i.score > 0) fp++;
    }
  }
  return { recall: p > 0 ? tp / p : 0, fpr: n > 0 ? fp / n : 0, fp };
}

function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  return x + Math.max(Math.abs(x) * Number.EPSILON, Number.MIN_VALUE);
}

/**
 * Logistic regression by Newton's method (IRLS) with a small L2 penalty; returns the bias and
 * one weight per feature. Used by `vigil bench beacon --fit` to fit the beacon score's weights.
 */
export function fitLogistic(
  x: readonly number[][],
  y: readonly number[],
  opts: { l2?: number; iterations?: number; nonNegative?: boolean } = {},
): number[] {
  const l2 = opts.l2 ?? 1e-3;
  const iterations = opts.iterations ?? 50;
  if (!opts.nonNegative) return newton(x, y, l2, iterations);
  // Active set: features whose weight comes out negative are held at zero and the rest refitted.
  const active = x[0].map(() => true);
  for (;;) {
    const cols = active.flatMap((a, i) => (a ? [i] : []));
    const sub = x.map((r) => cols.map((i) => r[i]));
    const w = cols.length > 0 ? newton(sub, y, l2, iterations) : newton(x.map(() => []), y, l2, iterations);
    let worst = -1;
    for (let k = 0; k < cols.length; k++) if (w[k + 1] < 0 && (worst < 0 || w[k + 1] < w[worst + 1])) worst = k;
    if (worst < 0) {
      const full = new Array<number>(x[0].length + 1).fill(0);
      full[0] = w[0];
      cols.forEach((i, k) => {
        full[i + 1] = w[k + 1];
      });
      return full;
    }
    active[cols[worst]] = false;
  }
}

function newton(x: readonly number[][], y: readonly number[], l2: number, iterations: number): number[] {
  const d = (x[0]?.length ?? 0) + 1;
  const w = new Array<number>(d).fill(0);
  const row = (i: number) => [1, ...x[i]];
  for (let it = 0; it < iterations; it++) {
    const grad = new Array<number>(d).fill(0);
    const hess = Array.from({ length: d }, () => new Array<number>(d).fill(0));
    for (let i = 0; i < x.length; i++) {
      const r = row(i);
      let z = 0;
      for (let k = 0; k < d; k++) z += w[k] * r[k];
      const p = 1 / (1 + Math.exp(-z));
      const g = p - y[i];
      const h = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a < d; a++) {
        grad[a] += g * r[a];
        for (let b = 0; b < d; b++) hess[a][b] += h * r[a] * r[b];
      }
    }
    for (let a = 1; a < d; a++) {
      grad[a] += l2 * x.length * w[a];
      hess[a][a] += l2 * x.length;
    }
    const step = solve(hess, grad);
    let change = 0;
    for (let k = 0; k < d; k++) {
      w[k] -= step[k];
      change = Math.max(change, Math.abs(step[k]));
    }
    if (change < 1e-8) break;
  }
  return w;
}

/** Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const pivot = m[c][c] || 1e-12;
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / pivot;
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const out = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * out[k];
    out[r] = s / (m[r][r] || 1e-12);
  }
  return out;
}
