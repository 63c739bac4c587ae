// Starts a private Mosquitto (MQTT 5 capable) on a free loopback port, for tests and benchmarks,
// and stops it by PID. Never uses a broker someone else left running (1883 may be taken).

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Broker {
  port: number;
  url: string;
  pid: number;
  /** Stops the broker (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop), keeping persistence if enabled. */
  restart(): Promise<void>;
  dir: string;
}

export function mosquittoPath(): string | undefined {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `extraConfig` is appended to the generated mosquitto.conf (e.g. ACLs), with `{dir}` replaced by
 * the broker's private folder, where `files` (name → content) are written first. The listener is
 * always 127.0.0.1:<free port> with anonymous access unless the extra config says otherwise.
 */
export async function startMosquitto(
  opts: { extraConfig?: string; persistence?: boolean; files?: Record<string, string> } = {},
): Promise<Broker> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-mosquitto-'));
  const port = await freePort();
  for (const [name, content] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(dir, name), content);
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      `persistence ${opts.persistence ? 'true' : 'false'}`,
      `persistence_location ${dir}/`,
      // As root, Mosquitto would switch to its own user, which cannot read this private folder.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'max_inflight_messages 100',
      'max_queued_messages 100000',
      (opts.extraConfig ?? '').replaceAll('{dir}', dir),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
    });
    try {
      await waitForPort(port, 10_000);
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}; mosquitto said: ${err}`, { cause: e });
    }
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  const broker: Broker = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? -1;
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    dir,
  };
  return broker;
}
