// Hand-made wire summaries of a chosen tier, for outbox and publisher tests.

import { UlidGenerator } from '../../../agent/ulid.js';
import type { Summary, Tier } from '../../../agent/wire.js';

const ulid = new UlidGenerator();

export function fakeSummary(tier: Tier, n: number): Summary {
  return {
    v: 1,
    id: ulid.next(),
    site: 'lab',
    sensor: 's1',
    segment: 'default',
    detector: 'baseline',
    type: 'volume.external_conns',
    entity: { type: 'host', id: `10.0.0.${n}` },
    ts: 1_700_000_000 + n,
    window: [1_700_000_000, 1_700_086_400],
    score: tier === 'high' ? 90 : tier === 'low' ? 50 : 10,
    severity: 'low',
    mode: 'alert',
    tier,
    attack: [],
    finding: `f${n}`,
    summary: `n=${n}`,
    evidence: { n },
  };
}
