// `vigil hub …`: run the hub (`vigil hub --config hub.yaml`) and publish segment tuning from the
// shell (`vigil hub tune --config hub.yaml --segment S --set path=value`).

import { type Command, CommanderError } from 'commander';
import { HubConfigError, loadHubConfig } from './config.js';
import { connectMqtt, Hub, retainedPublisher } from './hub.js';
import { HubStore } from './store.js';
import { SegmentTuner, TuningError } from './tuning.js';

/** Prints a one-line reason and exits 2 through the main program (which maps CommanderError codes). */
function usageFailure(message: string): never {
  process.stderr.write(`vigil: ${message}\n`);
  throw new CommanderError(2, 'vigil.hub', message);
}

function loadOrFail(file: string) {
  try {
    return loadHubConfig(file);
  } catch (err) {
    if (err instanceof HubConfigError) {
      for (const p of err.problems) process.stderr.write(`${err.file}: ${p}\n`);
      usageFailure(`${err.file}: ${err.problems.length} problem(s) in the hub configuration`);
    }
    throw err;
  }
}

/**
 * A failure while running (broker unreachable, store unusable): exit code 1. The main program
 * prints `vigil: <stack>` for such errors; the stack is set to the message alone because these
 * are the user's to fix (address, path), not the code's, and a trace would bury the reason.
 */
function runFailure(err: unknown): Error {
  const failure = new Error((err as Error).message ?? String(err), { cause: err });
  failure.stack = failure.message;
  return failure;
}

/** `path=value`; the value is read as JSON when it is JSON (4, true, "x", {…}), else as text. */
export function parseAssignment(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq <= 0) usageFailure(`--set needs path=value (e.g. detectors.baseline.zThreshold=4), got "${text}"`);
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // Plain text such as `mode=audit`.
  }
  return [text.slice(0, eq), value];
}

export function registerHubCommands(program: Command): void {
  const hub = program
    .command('hub')
    .description('run the hub: store summaries from sensors (MQTT), serve the JSON API, publish tuning')
    .option('-c, --config <file>', 'hub configuration (YAML)')
    .action(async (opts: { config?: string }) => {
      if (!opts.config) usageFailure('vigil hub needs --config <hub.yaml>');
      const config = loadOrFail(opts.config);
      const instance = new Hub({ config, log: (line) => process.stderr.write(`${line}\n`) });
      let stopRequested: () => void = () => undefined;
      const stopped = new Promise<void>((resolve) => {
        stopRequested = resolve;
      });
      process.once('SIGTERM', stopRequested);
      process.once('SIGINT', stopRequested);
      try {
        try {
          await instance.start();
        } catch (err) {
          throw runFailure(err);
        }
        await stopped;
      } finally {
        process.off('SIGTERM', stopRequested);
        process.off('SIGINT', stopRequested);
        await instance.stop();
        process.stderr.write('vigil hub: stopped\n');
      }
    });

  hub
    .command('tune')
    .description('publish a new version of a segment configuration (retained) and print it')
    .configureHelp({ showGlobalOptions: true })
    .requiredOption('-s, --segment <name>', 'segment to tune')
    .option(
      '--set <path=value>',
      'set a dotted path, e.g. detectors.baseline.zThreshold=4 or mode=audit (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .action(async (opts: { segment: string; set: string[] }, command: Command) => {
      const { config: file } = command.optsWithGlobals<{ config?: string }>();
      if (!file) usageFailure('vigil hub tune needs --config <hub.yaml>');
      if (opts.set.length === 0) usageFailure('vigil hub tune needs at least one --set path=value');
      const values = Object.fromEntries(opts.set.map(parseAssignment));
      const config = loadOrFail(file);
      // The hub's own store holds the version history (SQLite in WAL mode can be shared with it).
      let store: HubStore;
      try {
        store = new HubStore(config.store.path);
      } catch (err) {
        throw runFailure(err);
      }
      try {
        const client = await connectMqtt(config, 'tune').catch((err: unknown) => {
          throw runFailure(err);
        });
        try {
          const tuner = new SegmentTuner({ store, publish: retainedPublisher(client), now: Date.now });
          const published = await tuner.set(opts.segment, values);
          process.stdout.write(`${JSON.stringify(published, null, 2)}\n`);
        } catch (err) {
          if (err instanceof TuningError) usageFailure(`--set ${err.message}`);
          throw err;
        } finally {
          await client.endAsync();
        }
      } finally {
        store.close();
      }
    });
}
