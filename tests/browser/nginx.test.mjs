// deploy/nginx/realtime-hub.conf in front of two hub nodes that share one PostgreSQL and one
// Redis. The shipped file passes `nginx -t` (with its TLS server enabled too); through it,
// sockets land on both nodes, and every dialect behaves as one hub: each event is checked on
// a member of the node it did not start on. The chat page works through it in Chromium.
//
// The shipped file is included as it is, but for its listen ports, upstream servers, log and
// certificate paths, so what is tested is what is deployed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { freePort, launchBrowser, startHub } from './hub.mjs';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const SHIPPED = join(ROOT, 'deploy', 'nginx', 'realtime-hub.conf');
const CI = process.env.CI === 'true';
/** How long a frame may take; a missing one fails after this. */
const WAIT = 5000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function which(name, extraDirs = []) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch { /* not here */ }
  }
  return null;
}

// Debian puts nginx in /usr/sbin, which is not on an ordinary user's PATH.
const NGINX = process.env.NGINX || which('nginx', ['/usr/sbin', '/usr/local/sbin']);
const OPENSSL = which('openssl');
const PSQL = which('psql');
const REDIS_CLI = which('redis-cli');

/**
 * `{}` when every check holds; otherwise `{ skip: reason }`, printed, or under CI=true
 * `{ fail: reason }`, since CI has everything installed and a skip there would hide a gap.
 */
function requirements(checks) {
  const reasons = checks.filter(([ok]) => !ok).map(([, why]) => why);
  if (reasons.length === 0) return {};
  const reason = reasons.join('; ');
  if (CI) return { fail: `${reason} (CI=true: failing instead of skipping)` };
  console.log(`nginx.test.mjs: skipping: ${reason}`);
  return { skip: reason };
}

const NGINX_NEEDS = [
  [NGINX, 'nginx is not installed (apt-get install nginx)'],
  [OPENSSL, 'openssl is not installed (needed for the TLS server)'],
];
const CLUSTER_NEEDS = [
  ...NGINX_NEEDS,
  [process.env.TEST_REDIS_URL, 'TEST_REDIS_URL is not set (scripts/test.sh sets it)'],
  [process.env.TEST_DATABASE_URL, 'TEST_DATABASE_URL is not set (scripts/test.sh sets it)'],
  [PSQL, 'psql is not installed (it creates the test database)'],
  [REDIS_CLI, 'redis-cli is not installed'],
];

// --- Configuration --------------------------------------------------------------------------

function replaceOnce(text, from, to) {
  const at = text.indexOf(from);
  assert.ok(at >= 0 && text.indexOf(from, at + 1) < 0,
    `${SHIPPED} should contain "${from}" exactly once`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function replaceAll(text, from, to) {
  assert.ok(text.includes(from), `${SHIPPED} should contain "${from}"`);
  return text.split(from).join(to);
}

/** The shipped file with its commented-out TLS server (`# server {` to `# }`) enabled. */
function withTls(text) {
  const start = text.indexOf('\n# server {\n');
  assert.ok(start >= 0, `${SHIPPED} should hold a commented-out TLS server block`);
  const end = text.indexOf('\n# }\n', start) + '\n# }'.length;
  const block = text.slice(start + 1, end).split('\n').map((line) => line.replace(/^# ?/, ''));
  return text.slice(0, start + 1) + block.join('\n') + text.slice(end);
}

/**
 * The shipped file, changed only where this machine differs from a server: log and
 * certificate paths, and — when given — the listen ports and the nodes' ports.
 */
function siteConf({ dir, port, nodePorts, tls }) {
  let text = readFileSync(SHIPPED, 'utf8');
  if (tls) {
    text = withTls(text);
    if (tls.port) text = replaceOnce(text, 'listen 443 ssl;', `listen 127.0.0.1:${tls.port} ssl;`);
    text = replaceOnce(text, '/etc/ssl/certs/realtime-hub.pem', tls.cert);
    text = replaceOnce(text, '/etc/ssl/private/realtime-hub.key', tls.key);
  }
  if (port) text = replaceOnce(text, 'listen 80;', `listen 127.0.0.1:${port};`);
  if (nodePorts) {
    text = replaceOnce(text, 'server 127.0.0.1:8000;', `server 127.0.0.1:${nodePorts[0]};`);
    text = replaceOnce(text, 'server 127.0.0.1:8001;', `server 127.0.0.1:${nodePorts[1]};`);
  }
  text = replaceAll(text, '/var/log/nginx/realtime-hub.access.log', join(dir, 'hub-access.log'));
  text = replaceAll(text, '/var/log/nginx/realtime-hub.error.log', join(dir, 'hub-error.log'));
  return text;
}

/**
 * Writes a minimal top-level nginx.conf that includes the site the way Debian's does (from
 * http {}), with everything Nginx writes inside `dir`, and returns its path.
 */
function writeConf(dir, site) {
  writeFileSync(join(dir, 'realtime-hub.conf'), site);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `# Generated by tests/browser/nginx.test.mjs.
daemon off;
# One worker, so round-robin alternates strictly between the nodes.
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
    worker_connections 512;
}
http {
    # Debian's http-level log, in the combined format that would show tokens; the site's own
    # access_log must take its place.
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${dir}/realtime-hub.conf;
}
`);
  return conf;
}

function nginxArgs(dir, conf) {
  // -e: the error log Nginx uses before it has read the configuration.
  return ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', conf];
}

/** `nginx -t` on `conf`: it must succeed without a warning. */
async function nginxCheck(dir, conf) {
  let output;
  try {
    const { stdout, stderr } = await run(NGINX, ['-t', ...nginxArgs(dir, conf)]);
    output = stdout + stderr;
  } catch (e) {
    assert.fail(`nginx -t failed:\n${e.stderr ?? e.message}\n--- ${conf} includes:\n${readFileSync(join(dir, 'realtime-hub.conf'), 'utf8')}`);
  }
  assert.match(output, /test is successful/);
  assert.doesNotMatch(output, /\[(warn|emerg|alert|crit)\]/, output);
}

async function selfSignedCert(dir) {
  const cert = join(dir, 'hub.pem');
  const key = join(dir, 'hub.key');
  await run(OPENSSL, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', cert]);
  return { cert, key };
}

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'hub-nginx-'));
  // Nginx workers drop root and must still reach their temp directories here.
  chmodSync(dir, 0o755);
  return dir;
}

// --- nginx -t -------------------------------------------------------------------------------

const STOCK = '/etc/nginx/nginx.conf';

/**
 * Debian's own nginx.conf with the site included after its sites-enabled/, as an admin would
 * add it, and with its pid and logs moved into `dir`; null if it does not have that shape.
 */
function writeStockConf(dir, site) {
  let text = readFileSync(STOCK, 'utf8');
  const sites = /^([ \t]*)include \/etc\/nginx\/sites-enabled\/\*;$/m;
  if (!sites.test(text)) return null;
  text = text
    .replace(sites, (line, indent) => `${line}\n${indent}include ${dir}/realtime-hub.conf;`)
    .replace(/^([ \t]*)pid .*;$/m, `$1pid ${dir}/nginx.pid;`)
    .replace(/^([ \t]*)error_log .*;$/m, `$1error_log ${dir}/error.log;`)
    .replace(/^([ \t]*)access_log .*;$/m, `$1access_log ${dir}/access.log;`);
  writeFileSync(join(dir, 'realtime-hub.conf'), site);
  const conf = join(dir, 'nginx-stock.conf');
  writeFileSync(conf, text);
  return conf;
}

{
  const needs = requirements(NGINX_NEEDS);
  test('the shipped configuration passes nginx -t', { skip: needs.skip }, async (t) => {
    if (needs.fail) assert.fail(needs.fail);
    const dir = tempDir();
    try {
      const port = await freePort();
      const nodePorts = [await freePort(), await freePort()];
      const plain = siteConf({ dir, port, nodePorts });
      await t.test('included from the http block of a minimal nginx.conf', async () => {
        await nginxCheck(dir, writeConf(dir, plain));
      });

      const { cert, key } = await selfSignedCert(dir);
      const site = siteConf({ dir, port, nodePorts, tls: { port: await freePort(), cert, key } });
      await t.test('with its TLS server uncommented and a self-signed certificate', async () => {
        await nginxCheck(dir, writeConf(dir, site));
      });

      // Debian's nginx.conf also loads the default site, which claims port 80 for any host
      // name: the check shows the two live side by side without a warning, on the shipped
      // ports (nginx -t binds nothing). It opens the stock file's own paths (modules,
      // /var/lib/nginx), which takes root.
      const stock = existsSync(STOCK) && process.getuid?.() === 0
        ? null : `needs root and ${STOCK}`;
      await t.test(`included from ${STOCK}, next to Debian's default site`, { skip: stock ?? false }, async () => {
        for (const variant of [siteConf({ dir }), siteConf({ dir, tls: { cert, key } })]) {
          const conf = writeStockConf(dir, variant);
          if (!conf) return t.diagnostic(`${STOCK} has no "include /etc/nginx/sites-enabled/*;": not checked`);
          await nginxCheck(dir, conf);
        }
      });

      await t.test('socket timeouts above the heartbeat, no tokens in the log format', () => {
        // What a running test cannot wait for: both servers' socket timeouts stay above the
        // hub's heartbeat timeout (60 s), with room for a slow pong.
        const wsLocation = 'location ~ ^/(ws/|app/|api/v4/websocket/?$) {';
        const wsLocations = site.split(wsLocation).slice(1).map((rest) => rest.slice(0, rest.indexOf('}')));
        assert.equal(wsLocations.length, 2, 'a WebSocket location in the plain and the TLS server');
        for (const body of wsLocations) {
          for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
            const seconds = Number(body.match(new RegExp(`${directive} (\\d+)s;`))?.[1]);
            assert.ok(seconds >= 120, `${directive} should be at least 120s, is ${seconds}`);
          }
        }
        // Tokens are in query strings: the log format must not contain them.
        const format = site.match(/log_format realtime_hub ([^;]*);/)?.[1];
        assert.ok(format, 'log_format realtime_hub at http level');
        assert.match(format, /\$uri\b/);
        assert.doesNotMatch(format, /\$request\b|\$request_uri|\$args|\$query_string|\$arg_/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// --- WebSocket clients ----------------------------------------------------------------------

/** A WebSocket client that queues what it receives, so frames can be taken in any order. */
class Client {
  static open(url, options = {}) {
    return new Promise((ok, fail) => {
      const ws = new WebSocket(url, options);
      ws.once('open', () => ok(new Client(ws, url)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk) => { body += chunk; });
        res.on('end', () => fail(Object.assign(
          new Error(`${url}: HTTP ${res.statusCode} ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', fail);
    });
  }

  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.frames = [];
    this.waiters = [];
    this.node = null;
    ws.on('message', (data) => {
      const text = data.toString();
      const waiter = this.waiters.find((w) => w.match(text));
      if (!waiter) return this.frames.push(text);
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      clearTimeout(waiter.timer);
      waiter.ok(text);
    });
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (raw text) that `match` accepts, received already or within WAIT. */
  take(match = () => true, what = 'frame') {
    const at = this.frames.findIndex(match);
    if (at >= 0) return Promise.resolve(this.frames.splice(at, 1)[0]);
    return new Promise((ok, fail) => {
      const waiter = { match, ok };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        fail(new Error(`no ${what} within ${WAIT} ms on node ${this.node} ` +
          `(other frames: ${JSON.stringify(this.frames)})`));
      }, WAIT);
      this.waiters.push(waiter);
    });
  }

  /** The first frame of `type`, parsed. */
  async json(type) {
    return JSON.parse(await this.take((t) => JSON.parse(t).type === type, `"${type}" frame`));
  }

  /** Fails if anything arrives (or has arrived and was not taken) within `ms`. */
  async nothingMore(ms = 300) {
    await sleep(ms);
    assert.deepEqual(this.frames, [], `unexpected frames on node ${this.node}`);
  }

  close() {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((ok) => {
      this.ws.once('close', ok);
      this.ws.close();
    });
  }
}

const ofType = (type) => (text) => JSON.parse(text).type === type;

/** GET over https, trusting `ca` (fetch cannot be given a CA of its own). */
function httpsGet(url, ca) {
  return new Promise((ok, fail) => {
    https.get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => ok({ status: res.statusCode, body }));
    }).on('error', fail);
  });
}

// --- Two nodes behind Nginx -----------------------------------------------------------------

const cluster = requirements(CLUSTER_NEEDS);
if (cluster.fail) {
  test('two hub nodes behind nginx', () => assert.fail(cluster.fail));
}

describe('two hub nodes behind nginx', { skip: cluster.skip ?? Boolean(cluster.fail) }, () => {
  const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const database = `hub_nginx_${suffix}`;
  const prefix = `nginx_${suffix}_`;
  let dir;
  let databaseCreated = false;
  let nodes = [];
  let nginx;
  let http; // http://127.0.0.1:<port> of Nginx
  let ws; // ws://… of the same
  let tls; // { port, cert, key }

  async function psql(sql) {
    await run(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', process.env.TEST_DATABASE_URL, '-c', sql]);
  }

  before(async () => {
    dir = tempDir();
    await psql(`CREATE DATABASE ${database}`);
    databaseCreated = true;
    const databaseUrl = new URL(process.env.TEST_DATABASE_URL);
    databaseUrl.pathname = `/${database}`;
    const env = {
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: process.env.TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      HUB_TRUSTED_PROXIES: '127.0.0.1',
      HUB_PUSHER_APPS: 'nginx-app:nginx-key:nginx-secret',
      // The session's open/close lines show the client address the node settled on.
      RUST_LOG: 'warn,realtime_hub::hub::session=info',
    };
    // Started together, as a deployment would: migrations must not trip over each other.
    const started = await Promise.allSettled([0, 1].map(() => startHub(env, { captureLog: true })));
    nodes = started.filter((s) => s.status === 'fulfilled').map((s) => s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;

    const port = await freePort();
    tls = { port: await freePort(), ...(await selfSignedCert(dir)) };
    const nodePorts = nodes.map((n) => Number(new URL(n.url).port));
    const conf = writeConf(dir, siteConf({ dir, port, nodePorts, tls }));
    await nginxCheck(dir, conf);
    const child = spawn(NGINX, nginxArgs(dir, conf), { stdio: ['ignore', 'inherit', 'inherit'] });
    nginx = child;
    http = `http://127.0.0.1:${port}`;
    ws = `ws://127.0.0.1:${port}`;
    const deadline = Date.now() + 10000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`nginx exited with ${child.exitCode}: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      }
      try {
        if ((await fetch(`${http}/healthz`)).ok) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error('nginx did not start');
      await sleep(50);
    }
  });

  after(async () => {
    // Every step runs even if one before it failed; the first failure is reported.
    const steps = [
      async () => {
        if (!nginx || nginx.exitCode !== null) return;
        const exited = new Promise((r) => nginx.once('exit', r));
        nginx.kill('SIGTERM');
        await exited;
      },
      () => Promise.all(nodes.map((n) => n.stop())),
      () => databaseCreated && psql(`DROP DATABASE ${database} WITH (FORCE)`),
      async () => {
        const redis = ['-u', process.env.TEST_REDIS_URL];
        const { stdout } = await run(REDIS_CLI, [...redis, '--scan', '--pattern', `${prefix}*`]);
        const keys = stdout.split('\n').filter(Boolean);
        if (keys.length) await run(REDIS_CLI, [...redis, 'DEL', ...keys]);
      },
      () => dir && rmSync(dir, { recursive: true, force: true }),
    ];
    const errors = [];
    for (const step of steps) {
      try { await step(); } catch (e) { errors.push(e); }
    }
    if (errors.length) throw errors[0];
  });

  // --- Where a socket landed ----------------------------------------------------------------

  async function connections(dialect) {
    return Promise.all(nodes.map(async (node) => {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`hub_connections{dialect="${dialect}"} `));
      return line ? Number(line.split(' ')[1]) : 0;
    }));
  }

  /** Waits until the nodes count `expected` sockets of `dialect`. */
  async function settle(dialect, expected) {
    const deadline = Date.now() + WAIT;
    let now;
    while (Date.now() < deadline) {
      now = await connections(dialect);
      if (now.every((n, i) => n === expected[i])) return;
      await sleep(20);
    }
    assert.deepEqual(now, expected, `${dialect} connections per node`);
  }

  /** Waits until one node counts one more socket of `dialect` than `before`; that node's index. */
  async function newcomer(dialect, before) {
    const deadline = Date.now() + WAIT;
    let now;
    while (Date.now() < deadline) {
      now = await connections(dialect);
      const rose = now.map((n, i) => n - before[i]);
      if (rose.every((d) => d >= 0) && rose[0] + rose[1] === 1) return rose.indexOf(1);
      await sleep(20);
    }
    throw new Error(`no node counted the new ${dialect} socket: ${before} → ${now}`);
  }

  /** Opens a socket through Nginx; `client.node` is the node that took it (0 or 1). */
  async function open(dialect, url, options) {
    const before = await connections(dialect);
    const client = await Client.open(url, options);
    client.node = await newcomer(dialect, before);
    return client;
  }

  /** Opens a socket through Nginx on `node`, or fails. */
  async function openOn(node, dialect, url, options) {
    await steer(node);
    const client = await open(dialect, url, options);
    assert.equal(client.node, node, 'round-robin should have sent the socket to the other node');
    return client;
  }

  /** Opens `first` on either node, then `second` on the other. */
  async function onBothNodes(dialect, first, second = first, options = {}) {
    const a = await open(dialect, first, options);
    return [a, await openOn(1 - a.node, dialect, second, options)];
  }

  /** Waits until both nodes are subscribed to `topic` in Redis: a node subscribes when its
   *  first member of a topic joins, and what is published before that does not reach it. */
  async function relayed(topic) {
    const deadline = Date.now() + WAIT;
    for (;;) {
      const { stdout } = await run(REDIS_CLI, ['-u', process.env.TEST_REDIS_URL, 'PUBSUB', 'NUMSUB', `${prefix}hub:t:${topic}`]);
      if (Number(stdout.trim().split('\n').pop()) >= 2) return;
      assert.ok(Date.now() < deadline, `both nodes subscribed to ${topic}`);
      await sleep(20);
    }
  }

  async function closeAll(dialect, clients) {
    await Promise.all(clients.map((c) => c.close()));
    await settle(dialect, [0, 0]);
  }

  function api(path, token, body) {
    return fetch(`${http}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function accessLog() {
    return readFileSync(join(dir, 'hub-access.log'), 'utf8').split('\n').filter(Boolean);
  }

  /** The node that served a line of the access log (its last field is the upstream). */
  function nodeOf(line) {
    const upstream = line.split(' ').pop();
    const index = nodes.findIndex((n) => n.url === `http://${upstream}`);
    assert.ok(index >= 0, `upstream ${upstream} is not a node`);
    return index;
  }

  /** The node that served the newest `method path` request after line `from` of the log. */
  async function servedBy(method, path, from = 0) {
    const deadline = Date.now() + WAIT;
    for (;;) {
      // Nginx writes the line as the response goes out, maybe after the client has it.
      const line = accessLog().slice(from).reverse().find((l) => l.includes(`"${method} ${path}" `));
      if (line) return nodeOf(line);
      if (Date.now() > deadline) assert.fail(`no "${method} ${path}" in the access log`);
      await sleep(10);
    }
  }

  /**
   * Makes the next request through Nginx go to `node`. Round-robin alternates, so a request
   * that went to the other node is all it takes: a harmless /healthz moves the turn on.
   */
  async function steer(node) {
    for (let tries = 0; tries < 3; tries++) {
      const from = accessLog().length;
      await (await fetch(`${http}/healthz`)).text();
      if (await servedBy('GET', '/healthz', from) !== node) return;
    }
    assert.fail(`round-robin never turned to node ${node}`);
  }

  // --- Nginx itself -------------------------------------------------------------------------

  test('round-robin hands sockets to both nodes in turn', async () => {
    const room = `rr-${suffix}`;
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await open('chat', `${ws}/ws/chat/${room}/`));
    assert.deepEqual(await connections('chat'), [2, 2]);
    const placed = clients.map((c) => c.node);
    assert.deepEqual(placed, [placed[0], 1 - placed[0], placed[0], 1 - placed[0]]);
    await closeAll('chat', clients);
  });

  test('/metrics is not served through nginx, only by each node', async () => {
    for (const path of ['/metrics', '/metrics?format=text', '//metrics', '/%6Detrics', '/./metrics']) {
      const res = await fetch(`${http}${path}`);
      assert.equal(res.status, 404, `${path} through nginx`);
      assert.doesNotMatch(await res.text(), /hub_connections/);
    }
    for (const node of nodes) {
      const res = await fetch(`${node.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /hub_connections_opened_total/);
    }
  });

  test('the Pusher and Mattermost sockets pass through nginx too', async () => {
    const pusher = await Client.open(`${ws}/app/nginx-key?protocol=7&client=js&version=8.4.0&flash=false`);
    const established = JSON.parse(await pusher.take());
    const socketId = JSON.parse(established.data).socket_id;
    assert.match(socketId, /^\d+\.\d+$/);
    assert.deepEqual({ ...established, data: JSON.parse(established.data) }, {
      event: 'pusher:connection_established',
      data: { socket_id: socketId, activity_timeout: 30 },
    });
    pusher.send({ event: 'pusher:ping', data: {} });
    assert.deepEqual(JSON.parse(await pusher.take()), { event: 'pusher:pong', data: {} });
    pusher.ws.close();

    // Mattermost's socket opens unauthenticated; a challenge with a token that names no
    // session closes it with 1008, as Mattermost does.
    const mm = await Client.open(`${ws}/api/v4/websocket`);
    const closed = new Promise((ok) => mm.ws.once('close', (code) => ok(code)));
    mm.send({ seq: 1, action: 'authentication_challenge', data: { token: 'no-such-session' } });
    assert.equal(await closed, 1008);
  });

  test('Host keeps the port: a page of the hub may open sockets, another origin may not', async () => {
    const room = `origin-${suffix}`;
    // Addressed by a public name, as browsers reach a deployed hub: under a loopback name a
    // node bound to 127.0.0.1 would let any loopback page in (the development rule).
    const { port } = new URL(http);
    const host = `hub.example.com:${port}`;
    const same = await open('chat', `${ws}/ws/chat/${room}/`, { origin: `http://${host}`, headers: { host } });
    const other = `http://hub.example.com:${Number(port) + 1}`;
    await assert.rejects(Client.open(`${ws}/ws/chat/${room}/`, { origin: other, headers: { host } }), (e) => {
      assert.equal(e.status, 403);
      assert.deepEqual(JSON.parse(e.body), { error: 'origin not allowed' });
      return true;
    });
    await closeAll('chat', [same]);
  });

  test('nodes see the client address Nginx forwards, not the proxy nor a forged one', async () => {
    // Loopback accepts any 127.x source: this client is 127.0.0.2 to Nginx, which is 127.0.0.1
    // to the node, and it claims to be 203.0.113.9.
    const client = await open('chat', `${ws}/ws/chat/xff-${suffix}/`, {
      localAddress: '127.0.0.2',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    const node = nodes[client.node];
    const deadline = Date.now() + WAIT;
    while (!/ open conn=\d+ dialect=chat .*peer=127\.0\.0\.2\b/.test(node.log()) && Date.now() < deadline) {
      await sleep(20);
    }
    assert.match(node.log(), / open conn=\d+ dialect=chat .*peer=127\.0\.0\.2\b/);
    assert.doesNotMatch(node.log(), /peer=203\.0\.113\.9/);
    await closeAll('chat', [client]);
  });

  // --- One hub on two nodes, dialect by dialect ----------------------------------------------

  test('chat: a member on the other node receives the message exactly as the sender did', async (t) => {
    const room = `chat-${suffix}`;
    const [a, b] = await onBothNodes('chat', `${ws}/ws/chat/${room}/`);
    await relayed(`chat:${room}`);
    let echo;
    await t.test('the sender gets its message back through nginx', async () => {
      a.send({ message: 'from the first node' });
      echo = await a.take();
      const frame = JSON.parse(echo);
      assert.deepEqual(Object.keys(frame).sort(), ['created_at', 'id', 'message', 'user']);
      assert.equal(frame.message, 'from the first node');
      assert.equal(frame.user, 'anonymous');
      assert.match(frame.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });
    await t.test('a late member on the other node gets it as history from the shared database', async () => {
      const late = await openOn(b.node, 'chat', `${ws}/ws/chat/${room}/`);
      assert.deepEqual(JSON.parse(await late.take()), { ...JSON.parse(echo), history: true });
      await late.close();
    });
    await t.test('the member on the other node receives it live, then a reply crosses back', async () => {
      assert.equal(await b.take(), echo);
      b.send({ message: 'from the second node' });
      const reply = await b.take();
      assert.equal(JSON.parse(reply).message, 'from the second node');
      assert.equal(await a.take(), reply);
      await a.nothingMore();
      await b.nothingMore();
    });
    await closeAll('chat', [a, b]);
  });

  test('messages: REST on one node, events on sockets of both nodes', async (t) => {
    const alice = nodes[0].token(1, 'alice');
    const bob = nodes[0].token(2, 'bob');
    // Each user has a socket on each node: whichever node takes the REST request, one of
    // each user's sockets is on the other.
    const bobs = await onBothNodes('messages', `${ws}/ws/messages/?token=${bob}`);
    const alices = await onBothNodes('messages', `${ws}/ws/messages/?token=${alice}`);
    for (const c of bobs) assert.deepEqual(await c.json('connection'), { type: 'connection', message: 'connected', user_id: 2 });
    for (const c of alices) assert.deepEqual(await c.json('connection'), { type: 'connection', message: 'connected', user_id: 1 });
    await relayed('user:1');
    await relayed('user:2');

    const res = await api('/api/messages/', alice, { recipient_id: 2, subject: 'Jam', body: 'Friday?' });
    assert.equal(res.status, 201);
    const message = await res.json();
    assert.deepEqual([message.sender, message.recipient, message.body], [{ id: 1, name: 'alice', username: 'alice' }, { id: 2, name: 'bob', username: 'bob' }, 'Friday?']);
    const origin = await servedBy('POST', '/api/messages/');
    const here = (clients) => clients.find((c) => c.node === origin);
    const there = (clients) => clients.find((c) => c.node !== origin);
    const created = { type: 'new_message', message };

    await t.test('sockets on the node that took the request get new_message (and bob his count)', async () => {
      assert.deepEqual(await here(bobs).json('new_message'), created);
      assert.deepEqual(await here(bobs).json('unread_count'), { type: 'unread_count', count: 1 });
      assert.deepEqual(await here(alices).json('new_message'), created);
    });
    await t.test('sockets on the other node get exactly the same', async () => {
      assert.deepEqual(await there(bobs).json('new_message'), created);
      assert.deepEqual(await there(bobs).json('unread_count'), { type: 'unread_count', count: 1 });
      assert.deepEqual(await there(alices).json('new_message'), created);
    });

    // Bob reads it on one node's socket; the receipt must reach alice's socket on the other.
    const reader = bobs[0];
    reader.send({ type: 'mark_read', message_id: message.id });
    let receipt;
    await t.test('mark_read: the reader\'s node sends the receipt and the new count', async () => {
      receipt = await reader.json('message_read');
      assert.deepEqual(Object.keys(receipt).sort(), ['message_id', 'read_at', 'type']);
      assert.equal(receipt.message_id, message.id);
      assert.deepEqual(await reader.json('unread_count'), { type: 'unread_count', count: 0 });
      assert.deepEqual(await alices.find((c) => c.node === reader.node).json('message_read'), receipt);
    });
    await t.test('mark_read: sockets on the other node get the receipt too', async () => {
      assert.ok(receipt, 'the reader got no receipt');
      const otherBob = bobs.find((c) => c !== reader);
      assert.deepEqual(await otherBob.json('message_read'), receipt);
      assert.deepEqual(await otherBob.json('unread_count'), { type: 'unread_count', count: 0 });
      assert.deepEqual(await alices.find((c) => c.node !== reader.node).json('message_read'), receipt);
      for (const c of [...bobs, ...alices]) await c.nothingMore(100);
    });
    const unread = await (await api('/api/messages/unread_count/', bob)).json();
    assert.deepEqual(unread, { count: 0 });
    await closeAll('messages', [...bobs, ...alices]);
  });

  test('guitar: the PC on one node follows the phone on the other', async (t) => {
    const token = nodes[0].token(3, 'ann');
    const res = await api('/api/guitar/sessions/', token, {});
    assert.equal(res.status, 201);
    const { id } = await res.json();
    const url = `${ws}/ws/guitar/${id}/?token=${token}`;
    const [pc, phone] = await onBothNodes('guitar', url);
    await relayed(`guitar:${id}`);
    const stamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

    await t.test('the first device gets the session state through nginx', async () => {
      assert.deepEqual(await pc.json('session_state'), {
        type: 'session_state',
        data: { chord: null, practicing: false, started_at: null, connections: 1 },
      });
    });
    const connected = { type: 'connection_update', data: { status: 'connected', user_id: 3 } };
    await t.test('each device hears of its own connection, as the seed\'s group send tells it', async () => {
      assert.deepEqual(await pc.json('connection_update'), connected);
      assert.deepEqual(await phone.json('connection_update'), connected);
    });
    await t.test('the PC hears of the phone connecting on the other node', async () => {
      assert.deepEqual(await pc.json('connection_update'), connected);
    });
    await t.test('the phone, on the other node, is counted with the PC', async () => {
      assert.deepEqual(await phone.json('session_state'), {
        type: 'session_state',
        data: { chord: null, practicing: false, started_at: null, connections: 2 },
      });
    });

    phone.send({ type: 'chord_change', data: { chord: 'Am7' } });
    phone.send({ type: 'practice_start', data: {} });
    let started;
    await t.test('the phone\'s node confirms the practice start', async () => {
      started = await phone.json('practice_update');
      assert.equal(started.data.status, 'started');
      assert.match(started.data.timestamp, stamp);
    });
    await t.test('the PC on the other node gets the chord and the practice start', async () => {
      const chord = await pc.json('chord_change');
      assert.match(chord.data.timestamp, stamp);
      assert.deepEqual(chord, {
        type: 'chord_change', data: { chord: 'Am7', user_id: 3, timestamp: chord.data.timestamp },
      });
      assert.deepEqual(await pc.json('practice_update'), started);
      await pc.nothingMore(100);
      await phone.nothingMore(100);
    });

    // A device arriving later reads the chord and the practice from the database.
    const late = await open('guitar', url);
    const { connections: counted, ...stored } = (await late.json('session_state')).data;
    await t.test('a late device gets the stored chord and practice, whichever node it is on', async () => {
      assert.deepEqual(stored, { chord: 'Am7', practicing: true, started_at: started?.data.timestamp });
    });
    await t.test('a late device counts the devices of both nodes', async () => {
      assert.equal(counted, 3);
    });
    await closeAll('guitar', [pc, phone, late]);
  });

  test('broadcast: one channel across both nodes, frames byte for byte', async (t) => {
    const channel = `room:${suffix}`;
    const carol = nodes[0].token(4, 'carol', ['--channel', channel]);
    const dave = nodes[0].token(5, 'dave', ['--channel', channel]);
    const [c, d] = await onBothNodes('broadcast', `${ws}/ws/broadcast/?token=${carol}`, `${ws}/ws/broadcast/?token=${dave}`);
    await relayed(`bc:${channel}`);

    await t.test('the first member is welcomed through nginx', async () => {
      assert.equal(await c.take(ofType('connected')), '{"type":"connected","users":[{"id":4,"name":"carol"}]}');
    });
    await t.test('a member on the other node sees everyone on the channel, and is announced', async () => {
      assert.equal(await d.take(ofType('connected')),
        '{"type":"connected","users":[{"id":4,"name":"carol"},{"id":5,"name":"dave"}]}');
      assert.equal(await c.take(ofType('connectOther')),
        '{"type":"connectOther","sender":{"name":"dave","id":5},"data":{"user":{"name":"dave","id":5}}}');
    });

    // Data goes through as written: key order and number formatting.
    c.send('{"data":{"text":"hi","z":1,"a":1.50}}');
    const message = '{"type":"message","sender":{"name":"carol","id":4},"data":{"text":"hi","z":1,"a":1.50}}';
    await t.test('the sender gets sended, then its message', async () => {
      assert.equal(await c.take(), '{"type":"sended","ok":true}');
      assert.equal(await c.take(ofType('message')), message);
    });
    await t.test('the member on the other node gets the message byte for byte', async () => {
      assert.equal(await d.take(ofType('message')), message);
    });

    await t.test('a payload published in Redis reaches both nodes\' members once', async () => {
      const payload = `{"channel":"${channel}","data":{"info":{"title":"Import","detail":{"cursor":1,"total":2}}},"type":"message"}`;
      await run(REDIS_CLI, ['-u', process.env.TEST_REDIS_URL, 'PUBLISH', `${prefix}broadcast`, payload]);
      const expected = '{"type":"message","sender":{"name":"system","id":0},"data":{"info":{"title":"Import","detail":{"cursor":1,"total":2}}}}';
      assert.equal(await c.take((f) => f.includes('"system"')), expected);
      assert.equal(await d.take((f) => f.includes('"system"')), expected);
    });

    await d.close();
    await t.test('the member on the other node leaving is announced', async () => {
      assert.equal(await c.take(ofType('disconnectOther')),
        '{"type":"disconnectOther","sender":{"name":"dave","id":5},"data":{"user":{"name":"dave","id":5}}}');
      await c.nothingMore(100);
    });
    await closeAll('broadcast', [c, d]);
  });

  test('TLS: sockets through the https server reach both nodes', async (t) => {
    const room = `tls-${suffix}`;
    const wss = `wss://127.0.0.1:${tls.port}`;
    const ca = readFileSync(tls.cert);
    await t.test('the https server serves the hub and hides /metrics too', async () => {
      const base = `https://127.0.0.1:${tls.port}`;
      assert.deepEqual(await httpsGet(`${base}/healthz`, ca), { status: 200, body: '{"status":"ok"}' });
      assert.equal((await httpsGet(`${base}/metrics`, ca)).status, 404);
    });
    const [a, b] = await onBothNodes('chat', `${wss}/ws/chat/${room}/`, undefined, { ca });
    await relayed(`chat:${room}`);
    a.send({ message: 'over TLS' });
    const echo = await a.take();
    await t.test('the sender gets its message back over wss://', () => {
      assert.equal(JSON.parse(echo).message, 'over TLS');
    });
    await t.test('the member on the other node receives it', async () => {
      assert.equal(await b.take(), echo);
    });
    await closeAll('chat', [a, b]);
  });

  test('the chat page through nginx: a message typed in one page appears in the other', async (t) => {
    const room = `page-${suffix}`;
    const browser = await launchBrowser();
    try {
      const WAIT_PAGE = { timeout: 10000 };
      const openPage = async (fragment = '') => {
        const before = await connections('chat');
        const page = await browser.newPage();
        await page.goto(`${http}/chat/${room}/${fragment}`);
        await page.locator('#state[data-state="connected"]').waitFor(WAIT_PAGE);
        return { page, node: await newcomer('chat', before) };
      };
      const alice = await openPage(`#token=${nodes[0].token(1, 'alice')}`);
      let anon;
      for (let tries = 0; tries < 12 && !anon; tries++) {
        // A page load is several requests; one more request between tries shifts which of
        // them the round-robin hands to which node.
        if (tries % 2 === 1) await (await fetch(`${http}/healthz`)).text();
        const candidate = await openPage();
        // Loading a page takes more than one request, so its socket's turn is not known ahead.
        if (candidate.node !== alice.node) anon = candidate;
        else {
          await candidate.page.close();
          await settle('chat', alice.node === 0 ? [1, 0] : [0, 1]);
        }
      }
      assert.ok(anon, 'the second page never landed on the other node');
      await relayed(`chat:${room}`);
      const send = async (page, text) => {
        await page.fill('#chat-message-input', text);
        await page.press('#chat-message-input', 'Enter');
      };
      const shows = (page, text) => page.locator('#chat-log .msg', { hasText: text }).waitFor(WAIT_PAGE);

      await t.test('both pages connect through nginx and show what they send', async () => {
        assert.equal(await alice.page.textContent('#me'), 'as alice');
        await send(alice.page, 'hello from alice');
        await shows(alice.page, 'hello from alice');
        await send(anon.page, 'hi, anonymous here');
        await shows(anon.page, 'hi, anonymous here');
      });
      await t.test('each page shows the other\'s message, from the other node', async () => {
        await shows(anon.page, 'hello from alice');
        await shows(alice.page, 'hi, anonymous here');
        const who = await alice.page.locator('#chat-log .msg', { hasText: 'hi, anonymous here' }).locator('.who').textContent();
        assert.equal(who, 'anonymous:');
      });
    } finally {
      await browser.close();
    }
    await settle('chat', [0, 0]);
  });

  test('no token reaches an Nginx access log', async () => {
    const site = readFileSync(join(dir, 'hub-access.log'), 'utf8');
    assert.match(site, /"GET \/ws\/messages\/" 101 /);
    assert.match(site, /"GET \/ws\/broadcast\/" 101 /);
    const httpLevel = existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : '';
    for (const log of [site, httpLevel]) {
      assert.doesNotMatch(log, /token=|eyJ/);
    }
  });
});
