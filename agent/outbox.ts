// The durable outbox (DESIGN §2): every summary is written to the agent's SQLite state before it
// is published and deleted only after the broker's PUBACK — or, with mqtt.hubAck, only after the
// hub's acknowledgement that it stored it — so a broker outage, a hub outage or a crash loses
// nothing: rows are replayed in insertion order after a reconnect or a restart. The outbox is
// bounded (maxRows); when full it drops the oldest row of the lowest tier first (info, then
// low, then high) and counts what it dropped in a persisted counter.

import type Database from 'better-sqlite3';
import type { StateStore } from './state.js';
import { TIERS, type Summary, type Tier } from './wire.js';

export interface OutboxRow {
  /** Insertion order; replay follows it. */
  seq: number;
  tier: Tier;
  summary: Summary;
}

const DROPPED = 'outbox.dropped';

export class Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly dropOne: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly after: Database.Statement;
  private readonly markSentStmt: Database.Statement;
  private readonly removeId: Database.Statement;
  private readonly putCounter: Database.Statement;
  private depthNow: number;
  private droppedNow: number;

  constructor(
    state: StateStore,
    private readonly maxRows: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxRows) || maxRows < 1) throw new Error(`outbox maxRows must be >= 1 (got ${maxRows})`);
    this.db = state.database;
    this.insert = this.db.prepare(
      'INSERT OR IGNORE INTO outbox (id, tier, tier_rank, payload, created_ms) VALUES (?, ?, ?, ?, ?)',
    );
    this.dropOne = this.db.prepare(
      'DELETE FROM outbox WHERE seq = (SELECT seq FROM outbox ORDER BY tier_rank, seq LIMIT 1)',
    );
    this.remove = this.db.prepare('DELETE FROM outbox WHERE seq = ?');
    // Rows not yet sent, or sent so long ago without the hub's acknowledgement that they are due again.
    this.after = this.db.prepare(
      'SELECT seq, tier, payload FROM outbox WHERE seq > ? AND (sent_ms IS NULL OR sent_ms <= ?) ORDER BY seq LIMIT ?',
    );
    this.markSentStmt = this.db.prepare('UPDATE outbox SET sent_ms = ? WHERE seq = ?');
    this.removeId = this.db.prepare('DELETE FROM outbox WHERE id = ?');
    this.putCounter = this.db.prepare(
      'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
    );
    this.depthNow = (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
    const row = this.db.prepare('SELECT value FROM counters WHERE name = ?').get(DROPPED) as
      | { value: number }
      | undefined;
    this.droppedNow = row?.value ?? 0;
  }

  /** Rows waiting for a PUBACK. */
  get depth(): number {
    return this.depthNow;
  }

  /** Rows dropped because the outbox was full, since the state file was created. */
  get dropped(): number {
    return this.droppedNow;
  }

  /**
   * Stores summaries (one transaction), then enforces the bound. Returns how many rows were
   * dropped to make room (possibly some of the ones just added, when they are the lowest tier).
   */
  add(summaries: readonly Summary[]): number {
    if (summaries.length === 0) return 0;
    return this.db.transaction(() => {
      const now = this.nowMs();
      for (const s of summaries) {
        const r = this.insert.run(s.id, s.tier, TIERS.indexOf(s.tier), JSON.stringify(s), now);
        this.depthNow += r.changes;
      }
      let dropped = 0;
      while (this.depthNow > this.maxRows) {
        this.depthNow -= this.dropOne.run().changes;
        dropped++;
      }
      if (dropped > 0) {
        this.droppedNow += dropped;
        this.putCounter.run(DROPPED, this.droppedNow);
      }
      return dropped;
    })();
  }

  /**
   * Up to `limit` rows after `afterSeq`, oldest first (what to publish next): rows never sent, and
   * rows marked sent at or before `resendBefore` (ms) that the hub has not acknowledged.
   */
  next(afterSeq: number, limit: number, resendBefore = 0): OutboxRow[] {
    const rows = this.after.all(afterSeq, resendBefore, limit) as { seq: number; tier: Tier; payload: string }[];
    return rows.map((r) => ({ seq: r.seq, tier: r.tier, summary: JSON.parse(r.payload) as Summary }));
  }

  /** The broker accepted these rows; they stay until the hub acknowledges them (hubAck mode). */
  markSent(seqs: readonly number[], atMs: number): void {
    if (seqs.length === 0) return;
    this.db.transaction(() => {
      for (const seq of seqs) this.markSentStmt.run(atMs, seq);
    })();
  }

  /** The hub stored these summaries: delete them by id. Returns how many rows went. */
  ackIds(ids: readonly string[]): number {
    if (ids.length === 0) return 0;
    return this.db.transaction(() => {
      let removed = 0;
      for (const id of ids) removed += this.removeId.run(id).changes;
      this.depthNow -= removed;
      return removed;
    })();
  }

  /** The broker acknowledged these rows: delete them (a row dropped meanwhile is simply gone). */
  ack(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.db.transaction(() => {
      for (const seq of seqs) this.depthNow -= this.remove.run(seq).changes;
    })();
  }
}
