// Starts the real hub binary with one Pusher app, and what a Laravel app would run beside it:
// the /broadcasting/auth endpoint (signing with the `pusher` SDK, as Laravel's broadcaster
// does) and a webhook receiver that checks every signature with the same SDK.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Pusher from 'pusher';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const HUB_BIN = process.env.HUB_BIN ?? join(ROOT, 'target', 'debug', 'realtime-hub');

export const APP = { id: '77', key: 'echo-key', secret: 'echo-secret-of-the-test-app' };

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

function listen(server) {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server.address().port)));
}

function readBody(req) {
  return new Promise((ok) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks).toString()));
  });
}

/** A webhook receiver: `url`, `events` (every event of every valid post), `invalid` (posts
 *  whose signature or key was wrong), `close()`. */
export async function startWebhookReceiver() {
  const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret });
  const events = [];
  const invalid = [];
  const server = createHttp(async (req, res) => {
    const rawBody = await readBody(req);
    const hook = sdk.webhook({ headers: req.headers, rawBody });
    if (!hook.isValid()) {
      invalid.push({ headers: req.headers, rawBody });
      res.writeHead(401).end();
      return;
    }
    events.push(...hook.getEvents());
    res.writeHead(200).end('{}');
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/pusher/webhooks`, events, invalid, close: () => server.close() };
}

/** Laravel's `/broadcasting/auth`: the user is named by `Authorization: Bearer <id>:<name>`;
 *  private channels need a user, presence channels list them (user_info `{id, name}`, as a
 *  Laravel channel callback returns); channels under `private-forbidden`
 *  are refused with 403. */
export async function startAuthServer() {
  const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret });
  const server = createHttp(async (req, res) => {
    const form = new URLSearchParams(await readBody(req));
    const socketId = form.get('socket_id');
    const channel = form.get('channel_name');
    const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const [id, name] = bearer.split(':');
    if (!id || channel.startsWith('private-forbidden')) {
      res.writeHead(403, { 'Content-Type': 'application/json' }).end('{"message":"Forbidden"}');
      return;
    }
    const answer = channel.startsWith('presence-')
      ? sdk.authorizeChannel(socketId, channel, { user_id: Number(id), user_info: { id: Number(id), name } })
      : sdk.authorizeChannel(socketId, channel);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/broadcasting/auth`, close: () => server.close() };
}

/** A running hub node: `host`, `port`, `sdk` (the `pusher` server SDK pointed at it), `stop()`.
 *  `env` adds settings (REDIS_URL for a cluster). */
export async function startHub({ webhookUrl, env: extra = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hub-pusher-'));
  const port = await freePort();
  const app = { ...APP, activity_timeout: 30 };
  if (webhookUrl) app.webhook_url = webhookUrl;
  const env = {
    ...process.env,
    HUB_BIND: `127.0.0.1:${port}`,
    DATABASE_URL: `sqlite://${join(dir, 'hub.db')}`,
    JWT_SECRET: 'pusher-client-test-secret-of-32-bytes',
    HUB_PUSHER_APPS: JSON.stringify([app]),
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...extra,
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
  const sdk = new Pusher({
    appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false,
  });
  return {
    host: '127.0.0.1',
    port,
    url,
    sdk,
    async metric(name) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(name + ' '));
      return line ? Number(line.split(' ')[1]) : 0;
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
      if (Date.now() - started > ms) return fail(new Error(`timed out waiting for ${what}: ${JSON.stringify(list)}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** Resolves once `predicate()` holds. */
export async function until(predicate, what, ms = 5000) {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
