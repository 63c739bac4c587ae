// Test helper run as a child process: runs the zeek collector with any configuration (archive
// backfill, tails) and commits the uids it received together with the collector's checkpoint in
// ONE SQLite transaction, as the agent does, so a test can SIGKILL it at any moment and restart it.
//
//   node --import tsx test/helpers/zeek/collector-runner.ts '<CollectorRunnerOptions as JSON>'
//
// Prints `following` once the collector has opened more than `filesBeforeFollowing` files (the
// archived files backfilled first, then the live one), `committed <total uids>` after every
// commit; on SIGTERM stops, commits and exits 0. Issues go to stderr.

import { pathToFileURL } from 'node:url';
import { formatIssue } from '../../../agent/issues.js';
import { MetricsRegistry } from '../../../agent/metrics.js';
import { StateStore } from '../../../agent/state.js';
import { ZeekCollector } from '../../../collectors/zeek/collector.js';
import { zeekCollectorConfigSchema } from '../../../collectors/zeek/config.js';

export interface CollectorRunnerOptions {
  statePath: string;
  /** Input of zeekCollectorConfigSchema. */
  config: Record<string, unknown>;
  filesBeforeFollowing?: number;
}

/** Keys of the runner's own rows in the state store. */
export const RUNNER_BATCH_KEY = (n: number) => `test:runner:uids:${n}`;
export const RUNNER_BATCHES_KEY = 'test:runner:batches';

async function run(opts: CollectorRunnerOptions): Promise<void> {
  const state = StateStore.open(opts.statePath);
  let batches = (state.loadCheckpoint(RUNNER_BATCHES_KEY) as number | undefined) ?? 0;
  let total = 0;
  for (let n = 0; n < batches; n++) total += (state.loadCheckpoint(RUNNER_BATCH_KEY(n)) as string[]).length;
  const collector = new ZeekCollector({
    config: zeekCollectorConfigSchema.parse(opts.config),
    checkpoints: state,
    metrics: new MetricsRegistry(),
    onIssue: (issue) => process.stderr.write(`${formatIssue(issue)}\n`),
  });
  let pending: string[] = [];

  // Called outside a sink call or first thing in the next: every uid in `pending` was accepted,
  // so the collector's saved positions cover exactly those.
  const commit = () => {
    if (pending.length === 0) return;
    const uids = pending;
    state.transaction(() => {
      state.saveCheckpoint(RUNNER_BATCH_KEY(batches), uids);
      state.saveCheckpoint(RUNNER_BATCHES_KEY, batches + 1);
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
  const threshold = opts.filesBeforeFollowing ?? 0;
  const following = setInterval(() => {
    if (collector.counters.get('files') <= threshold) return;
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
  run(JSON.parse(process.argv[2]) as CollectorRunnerOptions).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
