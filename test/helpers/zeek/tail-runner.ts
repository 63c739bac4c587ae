// Test helper run as a child process: follows a conn.log with the zeek collector and commits the
// uids it received together with the collector's checkpoint in ONE SQLite transaction, the way the
// agent does, so a test can SIGKILL it at any moment, restart it and check exactly-once delivery.
//
//   node --import tsx test/helpers/zeek/tail-runner.ts '<RunnerOptions as JSON>'
//
// Prints `following` once the live file is open, `committed <total uids>` after every commit;
// on SIGTERM stops, commits and exits 0.

import { pathToFileURL } from 'node:url';
import { formatIssue } from '../../../agent/issues.js';
import { MetricsRegistry } from '../../../agent/metrics.js';
import { StateStore } from '../../../agent/state.js';
import { ZeekCollector } from '../../../collectors/zeek/collector.js';
import { zeekCollectorConfigSchema } from '../../../collectors/zeek/config.js';

export interface RunnerOptions {
  statePath: string;
  livePath: string;
  pollIntervalMs: number;
}

/** Checkpoint keys the runner uses for its own rows (the test reads them back). */
export const UID_BATCH_KEY = (n: number) => `test:uids:${n}`;
export const UID_BATCHES_KEY = 'test:uids:batches';
export const UID_TOTAL_KEY = 'test:uids:total';

async function run(opts: RunnerOptions): Promise<void> {
  const state = StateStore.open(opts.statePath);
  let batches = (state.loadCheckpoint(UID_BATCHES_KEY) as number | undefined) ?? 0;
  let total = (state.loadCheckpoint(UID_TOTAL_KEY) as number | undefined) ?? 0;
  const collector = new ZeekCollector({
    config: zeekCollectorConfigSchema.parse({
      tail: [opts.livePath],
      pollIntervalMs: opts.pollIntervalMs,
      batchSize: 700,
    }),
    checkpoints: state,
    metrics: new MetricsRegistry(),
    onIssue: (issue) => process.stderr.write(`${formatIssue(issue)}\n`),
  });
  let pending: string[] = [];

  // Runs outside a sink call (or first thing in the next one): everything in `pending` has been
  // accepted, so the collector's position covers exactly those uids.
  const commit = () => {
    if (pending.length === 0) return;
    const uids = pending;
    state.transaction(() => {
      state.saveCheckpoint(UID_BATCH_KEY(batches), uids);
      state.saveCheckpoint(UID_BATCHES_KEY, batches + 1);
      state.saveCheckpoint(UID_TOTAL_KEY, total + uids.length);
      collector.saveCheckpointSync();
    });
    batches++;
    total += uids.length;
    pending = [];
    process.stdout.write(`committed ${total}\n`);
  };

  const ac = new AbortController();
  const timer = setInterval(commit, 30);
  process.on('SIGTERM', () => ac.abort());
  // Tells the test when the live file is open, so the writer's first rotation cannot come first.
  const counters = collector.counters;
  const following = setInterval(() => {
    if (counters.get('files') === 0) return;
    process.stdout.write('following\n');
    clearInterval(following);
  }, 10);
  await collector.start(async (batch) => {
    commit();
    for (const r of batch) if (r.kind === 'flow') pending.push(r.uid);
  }, ac.signal);
  clearInterval(following);
  clearInterval(timer);
  commit();
  state.close();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(JSON.parse(process.argv[2]) as RunnerOptions).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
