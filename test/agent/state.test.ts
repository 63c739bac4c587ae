// The SQLite state store: migrations, checkpoints and snapshots survive reopening; a corrupt
// or locked file is a clear StateError, not a crash.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateError, StateStore } from '../../agent/state.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-state-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('state store', () => {
  it('creates the schema and keeps checkpoints and snapshots across reopening', () => {
    const file = path.join(dir, 'state.db');
    const a = StateStore.open(file);
    expect(a.schemaVersion).toBeGreaterThanOrEqual(1);
    a.saveCheckpoint('zeek:/var/log/conn.log', { inode: 42, offset: 1234 });
    a.saveSnapshot('baseline', { schemaVersion: 1, eventTime: 1700000000.5, state: { hosts: [['10.0.0.1', {}]] } });
    a.close();
    const b = StateStore.open(file);
    expect(b.loadCheckpoint('zeek:/var/log/conn.log')).toEqual({ inode: 42, offset: 1234 });
    expect(b.loadCheckpoint('missing')).toBeUndefined();
    expect(b.loadSnapshot('baseline')).toEqual({
      schemaVersion: 1,
      eventTime: 1700000000.5,
      state: { hosts: [['10.0.0.1', {}]] },
    });
    b.close();
  });

  it('commits checkpoint and other writes together or not at all', () => {
    const s = StateStore.open(path.join(dir, 'state.db'));
    s.saveCheckpoint('k', 1);
    expect(() =>
      s.transaction(() => {
        s.saveCheckpoint('k', 2);
        throw new Error('sink failed');
      }),
    ).toThrow('sink failed');
    expect(s.loadCheckpoint('k')).toBe(1);
    s.close();
  });

  it('refuses a corrupt file with a message saying what to do', () => {
    const file = path.join(dir, 'state.db');
    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
    expect(() => StateStore.open(file)).toThrow(StateError);
    expect(() => StateStore.open(file)).toThrow(/corrupt.*move it aside/);
  });

  it('refuses a state file that another process holds', () => {
    const file = path.join(dir, 'state.db');
    const first = StateStore.open(file);
    expect(() => StateStore.open(file, { busyTimeoutMs: 50 })).toThrow(/locked by another process/);
    first.close();
    StateStore.open(file).close();
  });

  it('names a missing directory', () => {
    expect(() => StateStore.open(path.join(dir, 'nope', 'state.db'))).toThrow(/does not exist/);
  });

  it('refuses a file written by a newer schema', () => {
    const file = path.join(dir, 'state.db');
    StateStore.open(file).close();
    // Simulate a newer vigil having migrated the file further.
    const s = StateStore.open(file);
    (s as unknown as { db: { pragma(x: string): void } }).db.pragma('user_version = 99');
    s.close();
    expect(() => StateStore.open(file)).toThrow(/newer than this vigil/);
  });
});
