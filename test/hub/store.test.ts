// The hub's SQLite store on real files: WAL and migrations, de-duplication, text search that
// treats wildcards literally, retention purge, and precision that survives the purge.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HubStore } from '../../hub/store.js';
import { makeSummary, tempDir, testUlid } from './helpers.js';

describe('hub store', () => {
  it('opens in WAL mode and reopens an existing file without migrating twice', () => {
    const file = path.join(tempDir(), 'hub.sqlite');
    const store = new HubStore(file);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.insertSummaries([makeSummary(1), makeSummary(1), makeSummary(2)], 0)).toEqual({ inserted: 2, duplicates: 1 });
    store.close();
    const again = new HubStore(file);
    expect(again.queryAnomalies({}).total).toBe(2);
    again.close();
    expect(fs.existsSync(file)).toBe(true);
  });

  it('stores a finding once even when a restarted sensor sends it again under a new summary id', () => {
    const store = new HubStore(path.join(tempDir(), 'hub.sqlite'));
    const first = makeSummary(7);
    const resent = makeSummary(8, { finding: first.finding, entity: first.entity, ts: first.ts });
    const otherSensor = makeSummary(9, { finding: first.finding, sensor: 'sensorB' });
    expect(store.insertSummaries([first, resent, otherSensor], 0)).toEqual({ inserted: 2, duplicates: 1 });
    expect(store.queryAnomalies({}).items.map((a) => a.id).sort()).toEqual([first.id, otherSensor.id].sort());
    store.close();
  });

  it('matches free text literally, so % and _ are not wildcards', () => {
    const store = new HubStore(path.join(tempDir(), 'hub.sqlite'));
    store.insertSummaries([makeSummary(1, { summary: 'disk 100% full' }), makeSummary(2, { summary: 'disk 1000 full' })], 0);
    expect(store.queryAnomalies({ q: '100%' }).items.map((a) => a.id)).toEqual([testUlid(1)]);
    expect(store.queryAnomalies({ q: 'DISK' }).total).toBe(2);
    store.close();
  });

  it('purges anomalies past retention by event time and keeps precision from their feedback', () => {
    const store = new HubStore(path.join(tempDir(), 'hub.sqlite'));
    const day = 86_400;
    store.insertSummaries([makeSummary(1, { ts: 1_000 * day }), makeSummary(2, { ts: 1_009 * day })], 0);
    expect(store.addFeedback(testUlid(1), 'fp', undefined, 0)).toBe(true);
    expect(store.addFeedback(testUlid(99), 'tp', undefined, 0)).toBe(false);
    expect(store.purge(7, 1_010 * day * 1000)).toBe(1);
    expect(store.queryAnomalies({}).items.map((a) => a.id)).toEqual([testUlid(2)]);
    expect(store.precision()).toEqual([{ detector: 'beacon', segment: 'office', tp: 0, fp: 1, precision: 0 }]);
    store.close();
  });
});
