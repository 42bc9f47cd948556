// Shared by every browser test: starts the real hub binary on a free port with a throw-away
// database, mints tokens the way `realtime-hub token` does, and launches headless Chromium
// with the flags that keep it off the network.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const HUB_BIN = process.env.HUB_BIN ?? join(ROOT, 'target', 'debug', 'realtime-hub');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SECRET = 'browser-test-secret-of-at-least-32-bytes';

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * Starts a hub; `env` adds or overrides variables (DATABASE_URL, REDIS_URL, …). With
 * `captureLog`, the hub's log is kept for `log()` instead of going to the terminal. Call
 * `stop()` when done.
 */
export async function startHub(env = {}, { captureLog = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hub-browser-'));
  const port = env.HUB_BIND ? Number(env.HUB_BIND.split(':').pop()) : await freePort();
  const fullEnv = {
    ...process.env,
    HUB_BIND: `127.0.0.1:${port}`,
    DATABASE_URL: `sqlite://${join(dir, 'hub.db')}`,
    JWT_SECRET: SECRET,
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...env,
  };
  const child = spawn(HUB_BIN, ['serve'], {
    env: fullEnv,
    stdio: ['ignore', captureLog ? 'pipe' : 'inherit', captureLog ? 'pipe' : 'inherit'],
  });
  let log = '';
  if (captureLog) {
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      let partial = '';
      stream.on('data', (chunk) => {
        log += chunk;
        // Warnings and errors still reach the terminal, as they do without capture.
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          if (!/\bINFO\b/.test(line)) process.stderr.write(`${line}\n`);
        }
      });
    }
  }
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hub exited with ${child.exitCode}\n${log}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('hub did not start'); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    wsUrl: url.replace('http', 'ws'),
    env: fullEnv,
    /** What the hub has logged so far (with `captureLog`). */
    log: () => log,
    /** A JWT for `id`/`name`, minted by the hub's own CLI. */
    token(id, name, extra = []) {
      return execFileSync(HUB_BIN, ['token', '--user-id', String(id), '--name', name, ...extra], {
        env: fullEnv,
      }).toString().trim();
    },
    /** Stops the hub by its PID; `keepData` leaves the database for a restart. */
    async stop({ keepData = false } = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium with no background networking (Playwright gives it a fresh profile). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}
