// How the beacon sub-scores combine into one score. Two questions, each a logistic model:
//   periodicity = σ(a0 + Σ a_i · timing sub-score_i)   "does it check in on a timer?"
//   suspicion   = σ(b0 + Σ b_j · context sub-score_j)  "given a timer, is it C2 and not a service?"
//   score = periodicity × suspicion
// The product makes both necessary: a rare, fixed-size but random exchange is not a beacon, and
// neither is an NTP-like timer that every host runs. The weights are fitted on the labelled
// benchmark (`vigil bench beacon --fit`: beacons against irregular benign traffic for the first
// model, against periodic benign services for the second), on training seeds that the reported
// figures never use, with weights held non-negative so that more evidence never lowers a score.
// Refit whenever a sub-score changes meaning; the fit prints this table.

export const TIMING_SUBSCORES = ['gaps', 'dispersion', 'tail', 'floor', 'uniform', 'fft', 'acf', 'count'] as const;
export const CONTEXT_SUBSCORES = ['size', 'prevalence', 'novelty', 'short', 'answered'] as const;
export const SUBSCORE_NAMES = [...TIMING_SUBSCORES, ...CONTEXT_SUBSCORES] as const;
export type SubscoreName = (typeof SUBSCORE_NAMES)[number];

export interface LogisticPart<K extends string> {
  bias: number;
  weights: Record<K, number>;
}

export interface ScoreModel {
  periodicity: LogisticPart<(typeof TIMING_SUBSCORES)[number]>;
  suspicion: LogisticPart<(typeof CONTEXT_SUBSCORES)[number]>;
  /** Where the weights come from (printed in the evidence of findings). */
  fitted: string;
}

export const BEACON_MODEL: ScoreModel = {
  periodicity: { bias: -7.689, weights: { gaps: 1.195, dispersion: 1.696, tail: 2.228, floor: 0.931, uniform: 2.83, fft: 0.916, acf: 0.15, count: 3.834 } },
  suspicion: { bias: -12.645, weights: { size: 9.667, prevalence: 1.083, novelty: 0, short: 3.175, answered: 0 } },
  fitted: 'logistic fits on seeds 101,102,103 at scale 0.3',
};

function part<K extends string>(p: LogisticPart<K>, names: readonly K[], s: Record<string, number>): number {
  let z = p.bias;
  for (const n of names) z += p.weights[n] * (s[n] ?? 0);
  return 1 / (1 + Math.exp(-z));
}

export interface Combined {
  score: number;
  periodicity: number;
  suspicion: number;
}

export function combineParts(subscores: Record<SubscoreName, number>, model: ScoreModel = BEACON_MODEL): Combined {
  const periodicity = part(model.periodicity, TIMING_SUBSCORES, subscores);
  const suspicion = part(model.suspicion, CONTEXT_SUBSCORES, subscores);
  return { score: periodicity * suspicion, periodicity, suspicion };
}

export function combine(subscores: Record<SubscoreName, number>, model: ScoreModel = BEACON_MODEL): number {
  return combineParts(subscores, model).score;
}
