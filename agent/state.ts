// The sensor's persistent state: one SQLite file (WAL) holding collector checkpoints and
// detector snapshots, with numbered migrations. A locked or corrupt file is a clear, final
// error (StateError), so systemd's restart loop does not hide it.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export class StateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'StateError';
  }
}

/** Each entry upgrades the schema by one version; never edit a released entry, append. */
const MIGRATIONS: string[] = [
  `CREATE TABLE checkpoints (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL,
     updated_ms INTEGER NOT NULL
   );
   CREATE TABLE detector_snapshots (
     detector TEXT PRIMARY KEY,
     schema_version INTEGER NOT NULL,
     event_time REAL NOT NULL,
     state TEXT NOT NULL,
     updated_ms INTEGER NOT NULL
   );`,
  // 2: the durable outbox (agent/outbox.ts): summaries waiting for the broker's PUBACK, in
  // insertion order (seq); tier_rank orders what is dropped first when the outbox is full.
  // Persistent counters (outbox dropped) live in `counters`.
  `CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     tier TEXT NOT NULL,
     tier_rank INTEGER NOT NULL,
     payload TEXT NOT NULL,
     created_ms INTEGER NOT NULL
   );
   CREATE INDEX outbox_drop_order ON outbox (tier_rank, seq);
   CREATE TABLE counters (
     name TEXT PRIMARY KEY,
     value INTEGER NOT NULL
   );`,
  // 3: segment configuration pushed by the hub and applied (agent/tuning.ts), so a restart
  // keeps it in force before the broker redelivers the retained message.
  `CREATE TABLE segment_configs (
     segment TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     config TEXT NOT NULL,
     applied_ms INTEGER NOT NULL
   );`,
  // 4: end-to-end acknowledgement (mqtt.hubAck): a row the broker accepted is marked sent and
  // kept until the hub acknowledges it, and sent again when that takes too long.
  `ALTER TABLE outbox ADD COLUMN sent_ms INTEGER;`,
];

export interface DetectorSnapshotRow {
  schemaVersion: number;
  eventTime: number;
  state: unknown;
}

/** Checkpoint storage as collectors see it: opaque JSON values under a key. */
export interface CheckpointStore {
  loadCheckpoint(key: string): unknown | undefined;
  saveCheckpoint(key: string, value: unknown): void;
}

export class StateStore implements CheckpointStore {
  private readonly db: Database.Database;
  private readonly getCp: Database.Statement;
  private readonly putCp: Database.Statement;

  private constructor(
    readonly file: string,
    db: Database.Database,
    private readonly nowMs: () => number,
  ) {
    this.db = db;
    this.getCp = db.prepare('SELECT value FROM checkpoints WHERE key = ?');
    this.putCp = db.prepare(
      'INSERT INTO checkpoints (key, value, updated_ms) VALUES (?, ?, ?) ' +
        'ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms',
    );
  }

  /**
   * Opens (creating if needed) the state file and brings its schema up to date. `:memory:`
   * gives a throw-away store (replays without --state).
   */
  static open(file: string, opts: { nowMs?: () => number; busyTimeoutMs?: number } = {}): StateStore {
    const nowMs = opts.nowMs ?? Date.now;
    if (file !== ':memory:') {
      const dir = path.dirname(file);
      if (!fs.existsSync(dir)) {
        throw new StateError(file, `directory ${dir} does not exist; create it or set state.path`);
      }
    }
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: opts.busyTimeoutMs ?? 2000 });
    } catch (err) {
      throw new StateError(file, `cannot open state database: ${(err as Error).message}`);
    }
    try {
      // One agent per state file: exclusive locking mode keeps the write lock from the first
      // write until close, so a second process gets SQLITE_BUSY here instead of interleaving.
      if (file !== ':memory:') db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec('BEGIN IMMEDIATE; COMMIT;');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      migrate(db);
    } catch (err) {
      db.close();
      const msg = (err as Error).message;
      if (/not a database|malformed|integrity/i.test(msg)) {
        throw new StateError(
          file,
          `state database is corrupt (${msg}); move it aside and restart to begin with empty state`,
        );
      }
      if (/locked|busy/i.test(msg)) {
        throw new StateError(
          file,
          `state database is locked by another process (${msg}); is another vigil running with this state file?`,
        );
      }
      throw new StateError(file, msg);
    }
    return new StateStore(file, db, nowMs);
  }

  /** The open database, for components that keep their own tables in it (the outbox). */
  get database(): Database.Database {
    return this.db;
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  loadCheckpoint(key: string): unknown | undefined {
    const row = this.getCp.get(key) as { value: string } | undefined;
    return row ? JSON.parse(row.value) : undefined;
  }

  saveCheckpoint(key: string, value: unknown): void {
    this.putCp.run(key, JSON.stringify(value), this.nowMs());
  }

  saveSnapshot(detector: string, snap: DetectorSnapshotRow): void {
    this.db
      .prepare(
        'INSERT INTO detector_snapshots (detector, schema_version, event_time, state, updated_ms) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT(detector) DO UPDATE SET schema_version = excluded.schema_version, event_time = excluded.event_time, state = excluded.state, updated_ms = excluded.updated_ms',
      )
      .run(detector, snap.schemaVersion, snap.eventTime, JSON.stringify(snap.state), this.nowMs());
  }

  loadSnapshot(detector: string): DetectorSnapshotRow | undefined {
    const row = this.db
      .prepare('SELECT schema_version, event_time, state FROM detector_snapshots WHERE detector = ?')
      .get(detector) as { schema_version: number; event_time: number; state: string } | undefined;
    if (!row) return undefined;
    return { schemaVersion: row.schema_version, eventTime: row.event_time, state: JSON.parse(row.state) };
  }

  /** Runs `fn` in one transaction (checkpoints and snapshots that must move together). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `schema version ${current} is newer than this vigil understands (${MIGRATIONS.length}); upgrade vigil`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
