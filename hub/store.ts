// The hub's SQLite store: anomaly summaries (de-duplicated on their ULID), sensors and their
// health, published segment configurations with each sensor's answer, and analyst feedback.

import Database from 'better-sqlite3';
import type { ConfigApplied, Health, SegmentConfig, Status, Summary } from '../agent/wire.js';

/** Each entry moves the schema one version forward; never edit one that has shipped. */
const MIGRATIONS: string[] = [
  `CREATE TABLE anomalies (
     id TEXT PRIMARY KEY,
     site TEXT NOT NULL, sensor TEXT NOT NULL, segment TEXT NOT NULL,
     detector TEXT NOT NULL, type TEXT NOT NULL,
     entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
     ts REAL NOT NULL, score INTEGER NOT NULL, severity TEXT NOT NULL,
     mode TEXT NOT NULL, tier TEXT NOT NULL, finding TEXT NOT NULL, summary TEXT NOT NULL,
     json TEXT NOT NULL, received_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX anomalies_ts ON anomalies (ts DESC, id DESC);
   CREATE INDEX anomalies_segment ON anomalies (segment, ts);
   CREATE INDEX anomalies_sensor ON anomalies (sensor, ts);
   CREATE TABLE sensors (
     site TEXT NOT NULL, sensor TEXT NOT NULL,
     status TEXT, version TEXT, status_json TEXT,
     last_birth INTEGER, last_will INTEGER,
     health_json TEXT, last_health_at INTEGER, last_seen INTEGER,
     PRIMARY KEY (site, sensor)
   );
   CREATE TABLE segment_configs (
     segment TEXT NOT NULL, version INTEGER NOT NULL, json TEXT NOT NULL, published_at INTEGER NOT NULL,
     PRIMARY KEY (segment, version)
   );
   CREATE TABLE config_applied (
     site TEXT NOT NULL, sensor TEXT NOT NULL, segment TEXT NOT NULL, version INTEGER NOT NULL,
     status TEXT NOT NULL, reason TEXT, at INTEGER NOT NULL,
     PRIMARY KEY (site, sensor, segment, version)
   );
   CREATE TABLE feedback (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     anomaly_id TEXT NOT NULL, detector TEXT NOT NULL, segment TEXT NOT NULL,
     verdict TEXT NOT NULL CHECK (verdict IN ('tp', 'fp')), note TEXT, at INTEGER NOT NULL
   );
   CREATE INDEX feedback_anomaly ON feedback (anomaly_id, seq);`,
  // A sensor that crashed re-reads its input from its last checkpoint and may report a finding
  // again under a new summary id; the finding's own identifier (detector, entity, window) is
  // the same, so it is the second key that makes delivery exactly-once.
  `CREATE UNIQUE INDEX anomalies_finding ON anomalies (site, sensor, finding);`,
];

export interface AnomalyFilter {
  segment?: string;
  sensor?: string;
  detector?: string;
  tier?: string;
  /** Event time bounds, seconds since the epoch (inclusive). */
  from?: number;
  to?: number;
  /** Free text matched (case-insensitively) against the summary text and the entity id. */
  q?: string;
  limit?: number;
  offset?: number;
}

export interface AnomalyRow {
  id: string;
  site: string;
  sensor: string;
  segment: string;
  detector: string;
  type: string;
  entity: { type: string; id: string };
  ts: number;
  score: number;
  severity: string;
  mode: string;
  tier: string;
  summary: string;
  /** Latest analyst verdict, if any. */
  verdict: 'tp' | 'fp' | null;
}

export interface SensorRow {
  site: string;
  sensor: string;
  status: string | null;
  version: string | null;
  lastBirth: number | null;
  lastWill: number | null;
  lastHealthAt: number | null;
  lastSeen: number | null;
  health: Health | null;
}

export interface PrecisionRow {
  detector: string;
  segment: string;
  tp: number;
  fp: number;
  /** tp / (tp + fp), judged on each anomaly's latest verdict. */
  precision: number;
}

export interface InsertResult {
  inserted: number;
  duplicates: number;
}

interface RawAnomaly {
  id: string;
  site: string;
  sensor: string;
  segment: string;
  detector: string;
  type: string;
  entity_type: string;
  entity_id: string;
  ts: number;
  score: number;
  severity: string;
  mode: string;
  tier: string;
  summary: string;
  json: string;
  verdict: 'tp' | 'fp' | null;
}

const LATEST_VERDICT =
  '(SELECT f.verdict FROM feedback f WHERE f.anomaly_id = a.id ORDER BY f.seq DESC LIMIT 1)';

export const MAX_PAGE = 1000;

export class HubStore {
  readonly db: Database.Database;
  private readonly insertAnomaly: Database.Statement;

  constructor(file: string) {
    try {
      this.db = new Database(file);
    } catch (err) {
      throw new Error(
        `cannot open the hub store ${file}: ${(err as Error).message}; check store.path and that its directory exists and is writable`,
        { cause: err },
      );
    }
    // WAL lets the API read while the subscriber writes; NORMAL sync is safe under WAL.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.insertAnomaly = this.db.prepare(
      `INSERT OR IGNORE INTO anomalies (id, site, sensor, segment, detector, type, entity_type, entity_id,
         ts, score, severity, mode, tier, finding, summary, json, received_at)
       VALUES (@id, @site, @sensor, @segment, @detector, @type, @entityType, @entityId,
         @ts, @score, @severity, @mode, @tier, @finding, @summary, @json, @receivedAt)`,
    );
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the hub database is schema version ${current} but this hub knows only up to ${MIGRATIONS.length}; run a newer vigil`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /**
   * Writes summaries in one transaction; a summary whose id, or whose (site, sensor, finding), is
   * already stored is skipped and counted as a duplicate.
   */
  insertSummaries(summaries: readonly Summary[], nowMs: number): InsertResult {
    let inserted = 0;
    this.db.transaction(() => {
      for (const s of summaries) {
        const info = this.insertAnomaly.run({
          id: s.id,
          site: s.site,
          sensor: s.sensor,
          segment: s.segment,
          detector: s.detector,
          type: s.type,
          entityType: s.entity.type,
          entityId: s.entity.id,
          ts: s.ts,
          score: s.score,
          severity: s.severity,
          mode: s.mode,
          tier: s.tier,
          finding: s.finding,
          summary: s.summary,
          json: JSON.stringify(s),
          receivedAt: nowMs,
        });
        inserted += info.changes;
      }
    })();
    return { inserted, duplicates: summaries.length - inserted };
  }

  queryAnomalies(filter: AnomalyFilter): { total: number; items: AnomalyRow[] } {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    for (const key of ['segment', 'sensor', 'detector', 'tier'] as const) {
      if (filter[key] !== undefined) {
        where.push(`a.${key} = @${key}`);
        params[key] = filter[key];
      }
    }
    if (filter.from !== undefined) {
      where.push('a.ts >= @from');
      params.from = filter.from;
    }
    if (filter.to !== undefined) {
      where.push('a.ts <= @to');
      params.to = filter.to;
    }
    if (filter.q) {
      // LIKE wildcards in the user's text are matched literally.
      where.push(`(a.summary LIKE @q ESCAPE '\\' OR a.entity_id LIKE @q ESCAPE '\\')`);
      params.q = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT count(*) AS n FROM anomalies a ${clause}`).get(params) as { n: number }).n;
    const rows = this.db
      .prepare(
        `SELECT a.*, ${LATEST_VERDICT} AS verdict FROM anomalies a ${clause}
         ORDER BY a.ts DESC, a.id DESC LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit: Math.min(filter.limit ?? 100, MAX_PAGE), offset: filter.offset ?? 0 }) as RawAnomaly[];
    return { total, items: rows.map(toAnomalyRow) };
  }

  /** One anomaly with its full summary (evidence included) and every verdict given on it. */
  getAnomaly(
    id: string,
  ): (AnomalyRow & { evidence: Record<string, unknown>; attack: string[]; window: [number, number]; finding: string; feedback: { verdict: string; note: string | null; at: number }[] }) | undefined {
    const raw = this.db.prepare(`SELECT a.*, ${LATEST_VERDICT} AS verdict FROM anomalies a WHERE a.id = ?`).get(id) as
      | RawAnomaly
      | undefined;
    if (!raw) return undefined;
    const full = JSON.parse(raw.json) as Summary;
    const feedback = this.db
      .prepare('SELECT verdict, note, at FROM feedback WHERE anomaly_id = ? ORDER BY seq')
      .all(id) as { verdict: string; note: string | null; at: number }[];
    return {
      ...toAnomalyRow(raw),
      evidence: full.evidence,
      attack: full.attack,
      window: full.window,
      finding: full.finding,
      feedback,
    };
  }

  /** Adds a verdict; false when the anomaly is unknown. The latest verdict per anomaly counts. */
  addFeedback(anomalyId: string, verdict: 'tp' | 'fp', note: string | undefined, nowMs: number): boolean {
    const a = this.db.prepare('SELECT detector, segment FROM anomalies WHERE id = ?').get(anomalyId) as
      | { detector: string; segment: string }
      | undefined;
    if (!a) return false;
    // Detector and segment are copied so precision survives the anomaly's retention purge.
    this.db
      .prepare('INSERT INTO feedback (anomaly_id, detector, segment, verdict, note, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(anomalyId, a.detector, a.segment, verdict, note ?? null, nowMs);
    return true;
  }

  precision(): PrecisionRow[] {
    const rows = this.db
      .prepare(
        `SELECT detector, segment,
           sum(verdict = 'tp') AS tp, sum(verdict = 'fp') AS fp
         FROM feedback f
         WHERE seq = (SELECT max(seq) FROM feedback g WHERE g.anomaly_id = f.anomaly_id)
         GROUP BY detector, segment ORDER BY detector, segment`,
      )
      .all() as { detector: string; segment: string; tp: number; fp: number }[];
    return rows.map((r) => ({ ...r, precision: r.tp / (r.tp + r.fp) }));
  }

  recordStatus(status: Status, nowMs: number): void {
    const online = status.state === 'online';
    this.db
      .prepare(
        `INSERT INTO sensors (site, sensor, status, version, status_json, last_birth, last_will, last_seen)
         VALUES (@site, @sensor, @state, @version, @json, @birth, @will, @now)
         ON CONFLICT (site, sensor) DO UPDATE SET
           status = excluded.status,
           version = coalesce(excluded.version, sensors.version),
           status_json = excluded.status_json,
           last_birth = coalesce(excluded.last_birth, sensors.last_birth),
           last_will = coalesce(excluded.last_will, sensors.last_will),
           last_seen = excluded.last_seen`,
      )
      .run({
        site: status.site,
        sensor: status.sensor,
        state: status.state,
        version: status.version ?? null,
        json: JSON.stringify(status),
        birth: online ? nowMs : null,
        will: online ? null : nowMs,
        now: nowMs,
      });
  }

  recordHealth(health: Health, nowMs: number): void {
    this.db
      .prepare(
        `INSERT INTO sensors (site, sensor, health_json, last_health_at, last_seen)
         VALUES (@site, @sensor, @json, @now, @now)
         ON CONFLICT (site, sensor) DO UPDATE SET
           health_json = excluded.health_json, last_health_at = excluded.last_health_at, last_seen = excluded.last_seen`,
      )
      .run({ site: health.site, sensor: health.sensor, json: JSON.stringify(health), now: nowMs });
  }

  listSensors(): SensorRow[] {
    const rows = this.db.prepare('SELECT * FROM sensors ORDER BY site, sensor').all() as {
      site: string;
      sensor: string;
      status: string | null;
      version: string | null;
      last_birth: number | null;
      last_will: number | null;
      last_health_at: number | null;
      last_seen: number | null;
      health_json: string | null;
    }[];
    return rows.map((r) => ({
      site: r.site,
      sensor: r.sensor,
      status: r.status,
      version: r.version,
      lastBirth: r.last_birth,
      lastWill: r.last_will,
      lastHealthAt: r.last_health_at,
      lastSeen: r.last_seen,
      health: r.health_json ? (JSON.parse(r.health_json) as Health) : null,
    }));
  }

  recordSegmentConfig(config: SegmentConfig, nowMs: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO segment_configs (segment, version, json, published_at) VALUES (?, ?, ?, ?)')
      .run(config.segment, config.version, JSON.stringify(config), config.publishedAt ?? nowMs);
  }

  latestSegmentConfig(segment: string): SegmentConfig | undefined {
    const row = this.db
      .prepare('SELECT json FROM segment_configs WHERE segment = ? ORDER BY version DESC LIMIT 1')
      .get(segment) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as SegmentConfig) : undefined;
  }

  recordConfigApplied(answer: ConfigApplied): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO config_applied (site, sensor, segment, version, status, reason, at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(answer.site, answer.sensor, answer.segment, answer.version, answer.status, answer.reason ?? null, answer.at);
  }

  /** Every segment: its latest configuration, all versions, and what each sensor answered. */
  listSegments(): {
    segment: string;
    config: SegmentConfig | null;
    versions: { version: number; publishedAt: number }[];
    answers: { site: string; sensor: string; version: number; status: string; reason: string | null; at: number }[];
  }[] {
    const names = this.db
      .prepare('SELECT segment FROM segment_configs UNION SELECT segment FROM config_applied ORDER BY segment')
      .all() as { segment: string }[];
    return names.map(({ segment }) => ({
      segment,
      config: this.latestSegmentConfig(segment) ?? null,
      versions: this.db
        .prepare('SELECT version, published_at AS publishedAt FROM segment_configs WHERE segment = ? ORDER BY version')
        .all(segment) as { version: number; publishedAt: number }[],
      answers: this.db
        .prepare(
          'SELECT site, sensor, version, status, reason, at FROM config_applied WHERE segment = ? ORDER BY site, sensor, version',
        )
        .all(segment) as { site: string; sensor: string; version: number; status: string; reason: string | null; at: number }[],
    }));
  }

  /** Deletes anomalies whose event time is older than the retention; returns how many. */
  purge(retentionDays: number, nowMs: number): number {
    const cutoff = nowMs / 1000 - retentionDays * 86_400;
    return this.db.prepare('DELETE FROM anomalies WHERE ts < ?').run(cutoff).changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toAnomalyRow(r: RawAnomaly): AnomalyRow {
  return {
    id: r.id,
    site: r.site,
    sensor: r.sensor,
    segment: r.segment,
    detector: r.detector,
    type: r.type,
    entity: { type: r.entity_type, id: r.entity_id },
    ts: r.ts,
    score: r.score,
    severity: r.severity,
    mode: r.mode,
    tier: r.tier,
    summary: r.summary,
    verdict: r.verdict,
  };
}
