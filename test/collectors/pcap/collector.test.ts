// The pcap collector's file position: a capture file interrupted half-way (agent stopped or
// killed after a checkpoint) resumes without handing any connection to the detectors twice and
// without losing one, on a real SQLite state file.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../agent/metrics.js';
import { StateStore } from '../../../agent/state.js';
import { generatePcap } from '../../../bench/pcap-gen.js';
import { PcapCollector } from '../../../collectors/pcap/collector.js';
import { pcapCollectorConfigSchema } from '../../../collectors/pcap/config.js';
import type { FlowRecord, VigilRecord } from '../../../collectors/record.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-pcap-collector-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Larger than the reader's 8 MiB chunk, so that batches are handed on while the file is read.
const file = path.join(tmp, 'trace.pcap');
generatePcap(file, { packets: 40_000, seed: 7 });

/** Everything but the uid (random per run). */
const ident = (r: VigilRecord) => {
  const { uid: _uid, ...rest } = r as FlowRecord;
  return JSON.stringify(rest);
};

function collector(state: StateStore, extra: Record<string, unknown> = {}, onIssue?: (message: string) => void) {
  return new PcapCollector({
    config: pcapCollectorConfigSchema.parse({ files: [file], ...extra }),
    checkpoints: state,
    metrics: new MetricsRegistry(),
    onIssue: (i) => {
      if (!onIssue) throw new Error(`unexpected issue: ${i.message}`);
      onIssue(i.message);
    },
    batchSize: 100,
  });
}

/** Reads until the first batch, then stops as the agent does, saving the checkpoint. */
async function interrupted(statePath: string): Promise<string[]> {
  const state = StateStore.open(statePath);
  const got: string[] = [];
  const stop = new AbortController();
  const c = collector(state);
  await c.start(async (b) => {
    got.push(...b.map(ident));
    stop.abort();
  }, stop.signal);
  c.saveCheckpointSync();
  state.close();
  return got;
}

describe('PcapCollector file positions', () => {
  it('resumes an interrupted capture file where the detectors left off', async () => {
    expect(fs.statSync(file).size).toBeGreaterThan(16 << 20);
    // Reference: one uninterrupted read.
    const whole: string[] = [];
    const refState = StateStore.open(path.join(tmp, 'ref.sqlite'));
    await collector(refState).start(async (b) => void whole.push(...b.map(ident)), new AbortController().signal);
    refState.close();
    expect(whole.length).toBeGreaterThan(1000);

    // Interrupted after the first batch: the agent saves its checkpoint and stops.
    const statePath = path.join(tmp, 'state.sqlite');
    const first = await interrupted(statePath);
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(whole.length);

    // Restart: the rest, and only the rest.
    let state = StateStore.open(statePath);
    const second: string[] = [];
    const c2 = collector(state);
    await c2.start(async (b) => void second.push(...b.map(ident)), new AbortController().signal);
    expect(c2.counters.get('resumed_skipped')).toBe(first.length);
    c2.saveCheckpointSync();
    state.close();
    expect([...first, ...second]).toEqual(whole);

    // Read to its end: a third start hands on nothing.
    state = StateStore.open(statePath);
    const third: string[] = [];
    await collector(state).start(async (b) => void third.push(...b.map(ident)), new AbortController().signal);
    state.close();
    expect(third).toEqual([]);
  });

  it('reads a partly read file again from its start when the flow settings changed, and says so', async () => {
    const statePath = path.join(tmp, 'changed.sqlite');
    const first = await interrupted(statePath);
    expect(first.length).toBeGreaterThan(0);
    const state = StateStore.open(statePath);
    const messages: string[] = [];
    const again: string[] = [];
    const c = collector(state, { maxFlows: 150_000 }, (m) => messages.push(m));
    await c.start(async (b) => void again.push(...b.map(ident)), new AbortController().signal);
    state.close();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('flow settings changed since this file was partly read');
    expect(c.counters.get('resumed_skipped')).toBe(0);
    expect(again.slice(0, first.length)).toEqual(first);
  });
});
