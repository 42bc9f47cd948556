// The soak: thousands of connections across the four dialects on two hub nodes (one Redis, one
// PostgreSQL) for many minutes, with churn, steady traffic, a stalled reader every minute and
// one node restarted half way. It samples each node's memory, descriptors and rooms and the
// clients' delivery latency, checks that every message reached every member once, and that
// memory and descriptors return to their baseline once the clients leave.
//
//   node soak.mjs --hub-bin PATH --redis-url URL --database-url URL [--minutes 10]
//                 [--connections 10000] [--out DIR] [--chart FILE]
//
// Everything it starts listens on 127.0.0.1 and is stopped by its PID; every loop is bounded
// by the duration. Exit status 1 when a check fails.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';

const opts = {
  minutes: 10, connections: 10000, out: 'target/soak', chart: '',
  'hub-bin': '', 'redis-url': '', 'database-url': '',
};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in opts)) throw new Error(`unknown option ${process.argv[i]}`);
  opts[key] = typeof opts[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const DURATION_MS = opts.minutes * 60_000;
const SECRET = randomBytes(32).toString('hex');
const PREFIX = `soak${process.pid}:`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const log = (...a) => console.log(`[${((now() - t0) / 1000).toFixed(0).padStart(4)} s]`, ...a);
const t0 = now();

// --- Tokens (HS256, as `realtime-hub token` mints them) ------------------------------------
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function token(id, name, channel) {
  const claims = { user_id: id, id, sub: String(id), name, exp: Math.floor(Date.now() / 1000) + 86400 };
  if (channel) claims.channel = channel;
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

// --- Nodes ---------------------------------------------------------------------------------
function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => ok(port)); });
  });
}

class Node {
  constructor(name, port) { this.name = name; this.port = port; this.url = `http://127.0.0.1:${port}`; }

  async start() {
    const env = {
      PATH: process.env.PATH, ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_'))), HUB_BIND: `127.0.0.1:${this.port}`, DATABASE_URL: opts['database-url'],
      REDIS_URL: opts['redis-url'], REDIS_PREFIX: PREFIX, JWT_SECRET: SECRET, RUST_LOG: 'warn',
      HUB_MAX_CONN_PER_IP: '100000', HUB_MAX_CONN_PER_USER: '1000', HUB_RATE_PER_SEC: '1000',
      HUB_PRESENCE_TTL_MS: '3000', HUB_SHUTDOWN_TIMEOUT_MS: '3000',
    };
    this.child = spawn(opts['hub-bin'], ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    this.exited = new Promise((r) => this.child.once('exit', r));
    for (let i = 0; i < 300; i++) {
      try { if ((await fetch(`${this.url}/healthz`)).ok) return; } catch { /* starting */ }
      await sleep(100);
    }
    throw new Error(`${this.name} did not start`);
  }

  async stop() {
    if (this.child.exitCode === null) { this.child.kill('SIGTERM'); await this.exited; }
  }

  /** Resident memory (KiB) and open descriptors, from /proc. */
  usage() {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
    return { rss, fds: readdirSync(`/proc/${this.child.pid}/fd`).length };
  }

  async metric(name) {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name) && !l.startsWith(`${name}_`))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }
}

// --- Accounting ----------------------------------------------------------------------------
const stats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, errors: 0, reconnects: 0, stalls: 0 };
/** Stalled readers: they never read again, so only the server can say it dropped them. */
const stalledConns = [];
let latencies = [];
const errorLog = [];
function error(what) { stats.errors++; if (errorLog.length < 50) errorLog.push(what); }

/** A message's expected receivers: key → { at, conns: Set<Conn> } (conns still owing it). */
const expected = new Map();
/** Keys of messages whose sender dropped before it saw its own copy: not owed by anyone. */
const uncertain = new Set();

function expect(key, receivers) {
  stats.sent++;
  const conns = new Set(receivers.filter((c) => c.ready()));
  expected.set(key, { at: now(), conns });
}

function arrived(conn, key) {
  if (conn.seen.has(key)) { stats.duplicated++; error(`duplicate ${key} on ${conn.label}`); return; }
  conn.seen.add(key);
  const entry = expected.get(key);
  if (!entry) return;
  if (entry.conns.delete(conn)) { stats.delivered++; latencies.push(now() - entry.at); }
  if (entry.conns.size === 0) expected.delete(key);
}

/** Forgets what a connection owed: it went away, which is not a loss. */
function forget(conn) {
  for (const [key, entry] of expected) {
    entry.conns.delete(conn);
    if (entry.conns.size === 0) expected.delete(key);
  }
}

function sweepLost() {
  const limit = now() - 10_000;
  for (const pc of pcs) {
    while (pc.chords.length && pc.chords[0].at < limit) {
      pc.chords.shift();
      stats.lost++;
      error(`lost a chord for ${pc.label}`);
    }
  }
  for (const [key, entry] of expected) {
    if (entry.at < limit) {
      expected.delete(key);
      if (uncertain.has(key)) continue;
      stats.lost += entry.conns.size;
      error(`lost ${key} for ${[...entry.conns].map((c) => c.label).join(',')}`);
    }
  }
  if (uncertain.size > 100_000) uncertain.clear();
}

// --- Connections ---------------------------------------------------------------------------
class Conn {
  constructor(label, node, path, group, onFrame) {
    Object.assign(this, { label, node, path, group, onFrame });
    this.seen = new Set();
    this.readyAt = Infinity;
    this.closedOnPurpose = false;
  }

  ready() { return this.ws?.readyState === WebSocket.OPEN && now() >= this.readyAt; }

  /** Sends a message whose key others are owed; remembered a while in case this drops. */
  speak(key, obj) {
    this.sent.push({ key, at: now() });
    if (this.sent.length > 20) this.sent.shift();
    this.send(obj);
  }

  open() {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.node.port}${this.path()}`);
      this.ws = ws;
      this.seen = new Set();
      this.sent = [];
      // Members join their room and nodes subscribe in Redis after the upgrade: a message is
      // owed to a connection from a second after it opened.
      ws.on('open', () => { ws.opened = true; this.readyAt = now() + 1000; resolve(true); });
      ws.on('message', (data) => this.onFrame(this, JSON.parse(data)));
      ws.on('unexpected-response', (_, res) => { if (!restarting) error(`${this.label}: HTTP ${res.statusCode}`); resolve(false); });
      ws.on('error', () => resolve(false));
      ws.on('close', (code) => {
        if (this.ws !== ws) return;
        forget(this);
        this.readyAt = Infinity;
        // What it sent just before it dropped may never have been read by the server.
        for (const s of this.sent) if (now() - s.at < 3000) uncertain.add(s.key);
        this.onClose?.(this);
        // A socket that never opened is its opener's to retry.
        if (!ws.opened || ws.purposeful || this.closedOnPurpose || this.stalled || !running) return;
        if (code === 1001 && restarting) return this.reconnectLater();
        if (code !== 1000 && code !== 1006) error(`${this.label}: closed ${code}`);
        this.reconnectLater();
      });
    });
  }

  async reconnectLater() {
    for (let attempt = 0; running && attempt < 60; attempt++) {
      await sleep(500 + Math.random() * 500);
      if (!running) return;
      stats.reconnects++;
      if (await this.open()) return;
    }
  }

  send(obj) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj)); }

  close() { this.closedOnPurpose = true; this.ws?.close(); }

  /** Closes and opens again a moment later, as a browser tab reloading would. */
  churn() {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.purposeful = true;
    this.ws.close();
    setTimeout(() => { if (running) this.open().then((ok) => ok || this.reconnectLater()); }, 200);
  }
}

let running = true;
let restarting = false;
let nextKey = 0;

// --- The four dialects ---------------------------------------------------------------------
function chatFrame(conn, msg) {
  if (typeof msg.message !== 'string' || !msg.message.startsWith('k')) return;
  arrived(conn, msg.message.split(' ')[0]);
}

function broadcastFrame(conn, msg) {
  if (msg.type === 'connected') conn.readyAt = Math.min(conn.readyAt, now() + 500);
  if (msg.type === 'message' && msg.data?.k) arrived(conn, msg.data.k);
}

function messagesFrame(conn, msg) {
  if (msg.type === 'new_message') arrived(conn, `m${msg.message.id}`);
}

const CHORDS = ['C', 'Dm7', 'G7', 'Am', 'F', 'E7', 'Bb'];
/** PCs, owed chord changes in order: { chord, at } each. */
const pcs = [];
function guitarFrame(conn, msg) {
  if (msg.type !== 'chord_change' || !conn.chords) return;
  // Changes the phone sent just before it dropped may or may not come: not counted.
  if (now() < conn.unsureUntil) return;
  const want = conn.chords.shift();
  if (want === undefined) return; // a change sent before this device was owed any
  if (want.chord !== msg.data.chord) { error(`guitar ${conn.label}: got ${msg.data.chord}, expected ${want.chord}`); return; }
  stats.delivered++;
  latencies.push(now() - want.at);
}

async function rest(node, method, path, tok, body) {
  const res = await fetch(`${node.url}${path}`, {
    method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function main() {
  mkdirSync(opts.out, { recursive: true });
  const nodes = [new Node('a', await freePort()), new Node('b', await freePort())];
  for (const n of nodes) await n.start();
  // Warm up what a running node keeps anyway (database and Redis connections, threads), then
  // take the baseline the end is compared with.
  const warm = [];
  for (let i = 0; i < 200; i++) {
    const c = new Conn(`warm${i}`, nodes[i % 2], () => `/ws/chat/warm${i % 20}/`, -1, () => {});
    warm.push(c);
  }
  await Promise.all(warm.map((c) => c.open()));
  for (const c of warm) c.send({ message: 'warm' });
  // One burst like the stalled-reader floods below: the database and Redis clients keep their
  // buffers at the largest batch they carried (bounded by the batch sizes), and that is part
  // of a warm node, not of the load.
  for (const c of warm.slice(0, 2)) for (let i = 0; i < 600; i++) c.send({ message: `w ${'x'.repeat(4000)}` });
  await Promise.all(nodes.map((n, i) => rest(n, 'GET', '/api/messages/', token(400_000 + i, 'w'))));
  await sleep(2000);
  for (const c of warm) c.close();
  await drained(nodes);
  const baseline = nodes.map((n) => n.usage());
  log(`nodes up; baseline ${baseline.map((u) => `${u.rss} KiB/${u.fds} fds`).join(', ')}`);

  const quarter = Math.floor(opts.connections / 4);
  const all = [];
  const pick = (i) => nodes[i % 2];
  // chat: rooms of 10 anonymous members
  const chatRooms = [];
  for (let i = 0; i < quarter; i++) {
    const room = Math.floor(i / 10);
    const c = new Conn(`chat${i}`, pick(i), () => `/ws/chat/soak${room}/`, room, chatFrame);
    (chatRooms[room] ??= []).push(c);
    all.push(c);
  }
  // broadcast: channels of 10 users
  const channels = [];
  for (let i = 0; i < quarter; i++) {
    const ch = Math.floor(i / 10);
    const tok = token(100_000 + i, `u${i}`, `soak:${ch}`);
    const c = new Conn(`bc${i}`, pick(i), () => `/ws/broadcast/?token=${tok}`, ch, broadcastFrame);
    (channels[ch] ??= []).push(c);
    all.push(c);
  }
  // messages: one socket per user
  const users = [];
  for (let i = 0; i < quarter; i++) {
    const id = 200_000 + i;
    const tok = token(id, `m${i}`);
    const c = new Conn(`msg${i}`, pick(i), () => `/ws/messages/?token=${tok}`, id, messagesFrame);
    c.token = tok;
    users.push(c);
    all.push(c);
  }
  // guitar: sessions of a PC and a phone, the owner's token on both
  const sessions = [];
  for (let i = 0; i < Math.floor(quarter / 2); i++) {
    const owner = 300_000 + i;
    const tok = token(owner, `g${i}`);
    const created = await rest(pick(i), 'POST', '/api/guitar/sessions/', tok, {});
    const frame = (conn, msg) => {
      if (msg.type === 'session_state') conn.readyAt = Math.min(conn.readyAt, now() + 500);
      guitarFrame(conn, msg);
    };
    const pc = new Conn(`pc${i}`, pick(i), () => `/ws/guitar/${created.id}/?token=${tok}`, i, frame);
    const phone = new Conn(`phone${i}`, pick(i + 1), () => `/ws/guitar/${created.id}/?token=${tok}`, i, frame);
    pc.chords = [];
    pc.unsureUntil = 0;
    pc.onClose = () => { pc.chords = []; };
    phone.onClose = () => { pc.chords = []; pc.unsureUntil = now() + 3000; };
    pcs.push(pc);
    sessions.push({ pc, phone, n: 0 });
    all.push(pc, phone);
  }
  log(`opening ${all.length} connections`);
  for (let i = 0; i < all.length; i += 200) {
    await Promise.all(all.slice(i, i + 200).map((c) => c.open()));
  }
  // Each connection's own forget() on close cleans what it owed; the messages dialect's
  // sockets only exist once their users do, which the handshakes above recorded.
  log(`${all.filter((c) => c.ws.readyState === WebSocket.OPEN).length} open`);

  const samples = [];
  const ends = now() + DURATION_MS;
  let lastSample = 0;
  let lastStall = now();
  let restarted = false;
  const tick = 1000;
  while (now() < ends) {
    const started = now();
    // Steady traffic: a tenth of the rooms, channels, sessions and users speak each second.
    for (const room of chatRooms) {
      if (Math.random() >= 0.1) continue;
      const from = room[Math.floor(Math.random() * room.length)];
      if (!from.ready()) continue;
      const key = `k${nextKey++}`;
      expect(key, room);
      from.speak(key, { message: `${key} hello` });
    }
    for (const ch of channels) {
      if (Math.random() >= 0.1) continue;
      const from = ch[Math.floor(Math.random() * ch.length)];
      if (!from.ready()) continue;
      const key = `b${nextKey++}`;
      expect(key, ch);
      from.speak(key, { data: { k: key, text: 'hello' } });
    }
    for (const s of sessions) {
      if (Math.random() >= 0.1 || !s.phone.ready() || !s.pc.ready() || now() < s.pc.unsureUntil) continue;
      const chord = CHORDS[s.n++ % CHORDS.length];
      s.pc.chords.push({ chord, at: now() });
      stats.sent++;
      s.phone.send({ type: 'chord_change', data: { chord } });
    }
    const posts = [];
    for (let i = 0; i < quarter / 50; i++) {
      const from = users[Math.floor(Math.random() * users.length)];
      const to = users[Math.floor(Math.random() * users.length)];
      if (from === to || !to.ready()) continue;
      posts.push(rest(pick(i), 'POST', '/api/messages/', from.token, { recipient_id: to.group, subject: 's', body: 'soak' })
        .then((m) => {
          stats.sent++;
          const key = `m${m.id}`;
          if (to.seen.has(key)) { stats.delivered++; return; }
          expected.set(key, { at: now(), conns: new Set([to]) });
        })
        .catch((e) => { if (!restarting) error(`REST: ${e.message}`); }));
    }
    await Promise.all(posts);
    // Churn: 1 % of the connections reconnect each second.
    for (let i = 0; i < all.length / 100; i++) {
      all[Math.floor(Math.random() * all.length)].churn();
    }
    // A stalled reader every minute, in a busy chat room: it must be dropped, not grow memory.
    if (now() - lastStall > 60_000) {
      lastStall = now();
      const stalled = new Conn('stalled', nodes[0], () => '/ws/chat/soak0/', -1, () => {});
      stalled.stalled = true;
      stats.stalls++;
      stalledConns.push(stalled);
      stalled.open().then(() => {
        stalled.ws._socket.pause();
        const flood = 'x'.repeat(4000);
        const sender = chatRooms[0].find((c) => c.ready());
        for (let i = 0; i < 600 && sender; i++) sender.send({ message: `z ${flood}` });
      });
    }
    // One node restarted half way.
    if (!restarted && now() - t0 > DURATION_MS / 2) {
      restarted = true;
      restarting = true;
      log('restarting node b');
      await nodes[1].stop();
      await nodes[1].start();
      log('node b back');
      setTimeout(() => { restarting = false; }, 15_000);
    }
    sweepLost();
    if (now() - lastSample >= 5000) {
      lastSample = now();
      latencies.sort((a, b) => a - b);
      const p99 = latencies.length ? latencies[Math.floor(latencies.length * 0.99)] : 0;
      const sample = { t: Math.round((now() - t0) / 1000), p99_ms: Number(p99.toFixed(2)), ...stats };
      for (const n of nodes) {
        const u = n.usage();
        sample[`${n.name}_rss_kib`] = u.rss;
        sample[`${n.name}_fds`] = u.fds;
        sample[`${n.name}_rooms`] = await n.metric('hub_rooms');
        sample[`${n.name}_connections`] = await n.metric('hub_connections');
      }
      samples.push(sample);
      latencies = [];
      log(`rss ${sample.a_rss_kib}/${sample.b_rss_kib} KiB, fds ${sample.a_fds}/${sample.b_fds}, rooms ${sample.a_rooms}/${sample.b_rooms}, p99 ${sample.p99_ms} ms, delivered ${stats.delivered}, lost ${stats.lost}, dup ${stats.duplicated}, errors ${stats.errors}`);
    }
    await sleep(Math.max(0, tick - (now() - started)));
  }

  log('clients leaving');
  running = false;
  // The last stall may be younger than the server's slow-reader window (3 s over 1 MiB):
  // give it that long before counting, rather than count it as kept.
  let evicted = 0;
  for (let waited = 0; waited <= 10_000; waited += 500) {
    evicted = await nodes[0].metric('hub_slow_consumer_evictions_total');
    if (evicted >= stats.stalls) break;
    await sleep(500);
  }
  for (const c of all) c.close();
  for (const c of stalledConns) c.ws?._socket?.destroy();
  await sleep(2000);
  sweepLost();
  await drained(nodes);
  const after = nodes.map((n) => n.usage());
  const checks = [];
  nodes.forEach((n, i) => {
    checks.push([`${n.name} RSS ${after[i].rss} KiB within 10 % of ${baseline[i].rss}`, after[i].rss <= baseline[i].rss * 1.1]);
    checks.push([`${n.name} fds ${after[i].fds} within 10 % of ${baseline[i].fds}`, after[i].fds <= Math.ceil(baseline[i].fds * 1.1)]);
  });
  checks.push([`no message lost (${stats.lost})`, stats.lost === 0]);
  checks.push([`no message duplicated (${stats.duplicated})`, stats.duplicated === 0]);
  checks.push([`no unexpected error (${stats.errors})`, stats.errors === 0]);
  checks.push([`stalled readers dropped by the server (${evicted} of ${stats.stalls})`, evicted >= stats.stalls]);
  for (const n of nodes) await n.stop();

  const summary = { options: { minutes: opts.minutes, connections: opts.connections }, baseline, after, stats, checks, errors: errorLog };
  writeFileSync(join(opts.out, 'soak.json'), JSON.stringify({ summary, samples }, null, 1));
  const header = Object.keys(samples[0] ?? {});
  writeFileSync(join(opts.out, 'soak.csv'), [header.join(','), ...samples.map((s) => header.map((h) => s[h]).join(','))].join('\n'));
  if (opts.chart) writeFileSync(opts.chart, chart(samples));
  for (const [what, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (errorLog.length) console.log('first errors:', errorLog.slice(0, 10));
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
}

/** Waits until no node has a connection or a room, then a little longer. */
async function drained(nodes) {
  for (let i = 0; i < 60; i++) {
    const left = await Promise.all(nodes.map(async (n) => (await n.metric('hub_rooms')) + (await n.metric('hub_connections'))));
    if (left.every((v) => v === 0)) break;
    await sleep(500);
  }
  await sleep(5000);
}

/** Four stacked panels over time, as SVG: memory, descriptors, rooms, p99 latency. */
function chart(samples) {
  const W = 800, H = 170, pad = 45;
  const panels = [
    ['resident memory (MiB)', (s) => [s.a_rss_kib / 1024, s.b_rss_kib / 1024]],
    ['open descriptors', (s) => [s.a_fds, s.b_fds]],
    ['rooms', (s) => [s.a_rooms, s.b_rooms]],
    ['p99 delivery latency (ms)', (s) => [s.p99_ms]],
  ];
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const colors = ['#1f77b4', '#d62728'];
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * panels.length + 30}" font-family="sans-serif" font-size="11">`;
  out += `<text x="${pad}" y="16" font-size="13">realtime-hub soak: ${opts.connections} connections, ${opts.minutes} min, two nodes (blue a, red b)</text>`;
  panels.forEach(([title, get], p) => {
    const y0 = 30 + p * H;
    const series = samples.map(get);
    const vMax = Math.max(1, ...series.flat()) * 1.1;
    out += `<text x="${pad}" y="${y0 + 12}">${title} (max ${Math.round(vMax / 1.1)})</text>`;
    out += `<rect x="${pad}" y="${y0 + 18}" width="${W - 2 * pad}" height="${H - 40}" fill="none" stroke="#999"/>`;
    const lines = series[0]?.length ?? 0;
    for (let k = 0; k < lines; k++) {
      const pts = samples.map((s, i) => {
        const x = pad + (s.t / tMax) * (W - 2 * pad);
        const y = y0 + 18 + (H - 40) * (1 - series[i][k] / vMax);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
      out += `<polyline fill="none" stroke="${colors[k]}" stroke-width="1.5" points="${pts.join(' ')}"/>`;
    }
    out += `<text x="${W - pad}" y="${y0 + H - 8}" text-anchor="end">${tMax} s</text>`;
  });
  return `${out}</svg>\n`;
}

main().catch((e) => { console.error(e); process.exit(1); });
