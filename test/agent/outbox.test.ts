// The durable outbox on a real SQLite file: ordered replay, deletion on ack, survival across a
// reopen, and the bound: the oldest rows of the lowest tier go first and are counted (persisted).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../agent/outbox.js';
import { StateStore } from '../../agent/state.js';
import { fakeSummary } from '../helpers/agent/summaries.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-outbox-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
describe('Outbox', () => {
  it('replays in order, deletes on ack, and keeps rows across a reopen', () => {
    const file = path.join(tmp, 'a.db');
    let state = StateStore.open(file);
    let box = new Outbox(state, 100);
    const all = [fakeSummary('low', 1), fakeSummary('high', 2), fakeSummary('info', 3), fakeSummary('low', 4)];
    box.add(all);
    box.add([all[0]]); // the same id twice is stored once
    expect(box.depth).toBe(4);
    const rows = box.next(0, 10);
    expect(rows.map((r) => r.summary.id)).toEqual(all.map((s) => s.id));
    expect(box.next(rows[1].seq, 10).map((r) => r.summary.id)).toEqual([all[2].id, all[3].id]);
    box.ack([rows[0].seq, rows[2].seq]);
    expect(box.depth).toBe(2);
    state.close();

    state = StateStore.open(file);
    box = new Outbox(state, 100);
    expect(box.depth).toBe(2);
    expect(box.next(0, 10).map((r) => r.summary)).toEqual([all[1], all[3]]);
    state.close();
  });

  it('keeps a sent row until the hub acknowledges it, and offers it again once its time is up', () => {
    const state = StateStore.open(path.join(tmp, 'hubAck.db'));
    const box = new Outbox(state, 100);
    const all = [fakeSummary('high', 11), fakeSummary('low', 12), fakeSummary('high', 13)];
    box.add(all);
    const rows = box.next(0, 10);
    box.markSent(
      rows.map((r) => r.seq),
      1_000,
    );
    expect(box.depth).toBe(3);
    // Not due yet (sent at 1000, resend only what was sent at or before 999): nothing to publish.
    expect(box.next(0, 10, 999)).toEqual([]);
    expect(box.ackIds([all[0].id, all[2].id, 'not-in-the-outbox'])).toBe(2);
    expect(box.depth).toBe(1);
    // Once its time is up, the unacknowledged row is offered again.
    expect(box.next(0, 10, 1_000).map((r) => r.summary.id)).toEqual([all[1].id]);
    state.close();
  });

  it('drops the oldest of the lowest tier first when full, and persists the count', () => {
    const file = path.join(tmp, 'b.db');
    let state = StateStore.open(file);
    let box = new Outbox(state, 4);
    const h1 = fakeSummary('high', 1);
    const l1 = fakeSummary('low', 2);
    const i1 = fakeSummary('info', 3);
    const l2 = fakeSummary('low', 4);
    const i2 = fakeSummary('info', 5);
    box.add([h1, l1, i1, l2]);
    expect(box.dropped).toBe(0);
    expect(box.add([i2])).toBe(1); // i1: oldest info
    expect(box.next(0, 10).map((r) => r.summary.id)).toEqual([h1.id, l1.id, l2.id, i2.id]);
    const h2 = fakeSummary('high', 6);
    const h3 = fakeSummary('high', 7);
    expect(box.add([h2, h3])).toBe(2); // i2 (last info), then l1 (oldest low)
    expect(box.next(0, 10).map((r) => r.summary.id)).toEqual([h1.id, l2.id, h2.id, h3.id]);
    expect(box.dropped).toBe(3);
    state.close();

    state = StateStore.open(file);
    box = new Outbox(state, 4);
    expect(box.dropped).toBe(3);
    expect(box.depth).toBe(4);
    state.close();
  });
});
