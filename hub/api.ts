// The hub's HTTP JSON API (node:http, or https with a certificate). Every request carries
// `Authorization: Bearer <token>`; bad input gets 400 with a JSON error naming the field.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { TIERS, TOPIC_LEVEL } from '../agent/wire.js';
import { type AnomalyFilter, type HubStore, MAX_PAGE } from './store.js';
import type { SubscriberStats } from './subscriber.js';
import { type SegmentTuner, TuningError } from './tuning.js';

export interface ApiContext {
  store: HubStore;
  tuner: SegmentTuner;
  token: string;
  silentAfterSeconds: number;
  now: () => number;
  stats: () => SubscriberStats;
}

/** Largest request body accepted (feedback notes and tuning edits are small). */
const MAX_BODY_BYTES = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Constant-time so the token cannot be guessed a character at a time from response times. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match) return false;
  // Hashing first gives equal lengths, which timingSafeEqual needs, without leaking the length.
  const given = crypto.createHash('sha256').update(match[1]).digest();
  const wanted = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(given, wanted);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`, 'body');
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the request body must be JSON', 'body');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object', 'body');
  }
  return body as Record<string, unknown>;
}

function intParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HttpError(400, `must be a whole number from ${min} to ${max}, got "${raw}"`, name);
  }
  return n;
}

function timeParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  // Seconds since the epoch, or an ISO 8601 date.
  const n = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : Date.parse(raw) / 1000;
  if (!Number.isFinite(n)) throw new HttpError(400, `must be seconds since the epoch or an ISO 8601 time, got "${raw}"`, name);
  return n;
}

function nameParam(params: URLSearchParams, name: string): string | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  if (raw.length > 128) throw new HttpError(400, 'is longer than 128 characters', name);
  return raw;
}

const QUERY_KEYS = new Set(['segment', 'sensor', 'detector', 'tier', 'from', 'to', 'q', 'limit', 'offset']);

function anomalyFilter(params: URLSearchParams): AnomalyFilter {
  for (const key of params.keys()) {
    if (!QUERY_KEYS.has(key)) throw new HttpError(400, `unknown query parameter; use ${[...QUERY_KEYS].join(', ')}`, key);
  }
  const tier = nameParam(params, 'tier');
  if (tier !== undefined && !(TIERS as readonly string[]).includes(tier)) {
    throw new HttpError(400, `must be one of ${TIERS.join(', ')}`, 'tier');
  }
  const q = params.get('q') ?? undefined;
  if (q !== undefined && q.length > 256) throw new HttpError(400, 'is longer than 256 characters', 'q');
  return {
    segment: nameParam(params, 'segment'),
    sensor: nameParam(params, 'sensor'),
    detector: nameParam(params, 'detector'),
    tier,
    from: timeParam(params, 'from'),
    to: timeParam(params, 'to'),
    q: q || undefined,
    limit: intParam(params, 'limit', 1, MAX_PAGE) ?? 100,
    offset: intParam(params, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0,
  };
}

export function createApiHandler(ctx: ApiContext): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!tokenMatches(req.headers.authorization, ctx.token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { error: 'missing or wrong bearer token (Authorization: Bearer <token>)' });
    }
    const url = new URL(req.url ?? '/', 'http://hub');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new HttpError(400, 'the path has a malformed %-escape', 'path');
    }
    const method = req.method ?? 'GET';
    if (parts[0] !== 'api') throw new HttpError(404, `no such route: ${url.pathname}`);
    const [, what, id, sub] = parts;

    if (method === 'GET' && what === 'anomalies' && parts.length === 2) {
      const filter = anomalyFilter(url.searchParams);
      const page = ctx.store.queryAnomalies(filter);
      return send(res, 200, { total: page.total, limit: filter.limit, offset: filter.offset, items: page.items });
    }
    if (method === 'GET' && what === 'anomalies' && parts.length === 3) {
      const anomaly = ctx.store.getAnomaly(id);
      if (!anomaly) throw new HttpError(404, `no anomaly with id ${id}`, 'id');
      return send(res, 200, anomaly);
    }
    if (method === 'POST' && what === 'anomalies' && parts.length === 4 && sub === 'feedback') {
      const body = await readJson(req);
      for (const key of Object.keys(body)) {
        if (!['verdict', 'note', 'suppress'].includes(key)) throw new HttpError(400, 'unknown field; use verdict, note, suppress', key);
      }
      if (body.verdict !== 'tp' && body.verdict !== 'fp') throw new HttpError(400, 'must be "tp" or "fp"', 'verdict');
      if (body.note !== undefined && (typeof body.note !== 'string' || body.note.length > 2000)) {
        throw new HttpError(400, 'must be a string of at most 2000 characters', 'note');
      }
      if (body.suppress !== undefined && typeof body.suppress !== 'boolean') throw new HttpError(400, 'must be true or false', 'suppress');
      if (body.suppress && body.verdict !== 'fp') throw new HttpError(400, 'only a false positive ("fp") can add a suppression', 'suppress');
      const anomaly = ctx.store.getAnomaly(id);
      if (!anomaly) throw new HttpError(404, `no anomaly with id ${id}`, 'id');
      ctx.store.addFeedback(id, body.verdict, body.note as string | undefined, ctx.now());
      let config;
      if (body.suppress) {
        config = await ctx.tuner.addSuppression(anomaly.segment, {
          detector: anomaly.detector,
          type: anomaly.type,
          entity: anomaly.entity.id,
          reason: `false positive ${id}${body.note ? `: ${String(body.note).slice(0, 400)}` : ''}`,
        });
      }
      return send(res, 200, { id, verdict: body.verdict, ...(config ? { config } : {}) });
    }
    if (method === 'GET' && what === 'sensors' && parts.length === 2) {
      const now = ctx.now();
      const sensors = ctx.store.listSensors().map((s) => ({
        ...s,
        // Silent: no health for silentAfterSeconds (or never). `status` says separately whether its
        // last will (offline) was published.
        silent: s.lastHealthAt === null || now - s.lastHealthAt > ctx.silentAfterSeconds * 1000,
      }));
      return send(res, 200, { sensors });
    }
    if (method === 'GET' && what === 'segments' && parts.length === 2) {
      return send(res, 200, { segments: ctx.store.listSegments() });
    }
    if (method === 'PUT' && what === 'segments' && parts.length === 3) {
      if (!TOPIC_LEVEL.test(id)) throw new HttpError(400, 'must be 1–64 letters, digits, _ or -', 'segment');
      const body = await readJson(req);
      const set = body.set;
      if (typeof set !== 'object' || set === null || Array.isArray(set) || Object.keys(set).length === 0) {
        throw new HttpError(400, 'must be an object of "dotted.path": value with at least one entry', 'set');
      }
      const config = await ctx.tuner.set(id, set as Record<string, unknown>);
      return send(res, 200, { config });
    }
    if (method === 'GET' && what === 'precision' && parts.length === 2) {
      return send(res, 200, { precision: ctx.store.precision() });
    }
    if (method === 'GET' && what === 'stats' && parts.length === 2) {
      return send(res, 200, ctx.stats());
    }
    throw new HttpError(404, `no such route: ${method} ${url.pathname}`);
  };

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof HttpError) return send(res, err.status, { error: err.message, ...(err.field ? { field: err.field } : {}) });
      if (err instanceof TuningError) return send(res, 400, { error: err.message, field: err.field });
      send(res, 500, { error: `internal error: ${(err as Error).message}` });
    });
  };
}

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

export async function startApi(
  ctx: ApiContext,
  listen: { host: string; port: number; tls?: { cert: string; key: string } },
): Promise<RunningApi> {
  const handler = createApiHandler(ctx);
  const server = listen.tls
    ? https.createServer({ cert: fs.readFileSync(listen.tls.cert), key: fs.readFileSync(listen.tls.key) }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `${listen.tls ? 'https' : 'http'}://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
