// Starts the real hub binary on a free port with a throw-away SQLite database, creates
// Mattermost accounts with its command line, and gives Node what @mattermost/client expects
// of a browser (a global WebSocket and CloseEvent).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const HUB_BIN = process.env.HUB_BIN ?? join(ROOT, 'target', 'debug', 'realtime-hub');

// Node 20 has neither; @mattermost/client uses both as globals.
globalThis.WebSocket ??= WebSocket;
globalThis.CloseEvent ??= class CloseEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
};

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** A running hub: `url`, `wsUrl`, `addUser(name, password)` → id, `stop()`. */
export async function startHub() {
  const dir = mkdtempSync(join(tmpdir(), 'hub-mm-'));
  const port = await freePort();
  const env = {
    ...process.env,
    HUB_BIND: `127.0.0.1:${port}`,
    DATABASE_URL: `sqlite://${join(dir, 'hub.db')}`,
    JWT_SECRET: 'mattermost-client-test-secret-32-bytes+',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
  const child = spawn(HUB_BIN, ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hub exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('hub did not start'); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    wsUrl: `${url.replace('http', 'ws')}/api/v4/websocket`,
    addUser(username, password) {
      const out = execFileSync(HUB_BIN, ['user', 'add', '--username', username, '--password', password], { env });
      return out.toString().trim().split(' ').pop();
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first item `check` accepts among what `list` holds or receives. */
export function waitFor(list, check, what, ms = 5000) {
  return new Promise((ok, fail) => {
    const started = Date.now();
    const tick = () => {
      const found = list.find(check);
      if (found) return ok(found);
      if (Date.now() - started > ms) return fail(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}
