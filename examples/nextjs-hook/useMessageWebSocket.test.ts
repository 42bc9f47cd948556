// The hook in jsdom against the real hub binary: new_message, message_read and unread_count
// arrive and change the hook's state; a restarted hub is reconnected to.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { act, renderHook, waitFor } from '@testing-library/react';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { useMessageWebSocket } from './useMessageWebSocket';

const BIN = process.env.HUB_BIN ?? resolve(__dirname, '..', '..', 'target', 'debug', 'realtime-hub');
const dir = mkdtempSync(join(tmpdir(), 'hub-hook-'));
let port = 0;
let hub: ChildProcess;
const env = () => ({ ...process.env, HUB_BIND: `127.0.0.1:${port}`, DATABASE_URL: `sqlite://${join(dir, 'hub.db')}`, JWT_SECRET: 'hook-test-secret-of-at-least-32-bytes', RUST_LOG: 'warn',
  // The app's pages are served from another origin than the hub (jsdom: http://localhost:3000),
  // as a Next.js app beside the hub would be: it must be allowed explicitly.
  HUB_ALLOWED_ORIGINS: 'http://localhost:3000' });

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => ok(p));
    });
  });
}

async function startHub() {
  hub = spawn(BIN, ['serve'], { env: env(), stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('hub did not start');
}

async function stopHub() {
  const exited = new Promise((r) => hub.once('exit', r));
  hub.kill('SIGTERM');
  await exited;
}

const token = (id: number, name: string) =>
  execFileSync(BIN, ['token', '--user-id', String(id), '--name', name], { env: env() }).toString().trim();

async function rest(method: string, path: string, tok: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  port = await freePort();
  await startHub();
});

afterAll(async () => {
  await stopHub();
  rmSync(dir, { recursive: true, force: true });
});

test('new_message, message_read and unread_count reach the hook', async () => {
  const alice = token(1, 'alice');
  const bob = token(2, 'bob');
  await rest('GET', '/api/communities/', alice);
  await rest('GET', '/api/communities/', bob);

  const { result, unmount } = renderHook(() => useMessageWebSocket(bob, { baseUrl: `ws://127.0.0.1:${port}` }));
  await waitFor(() => expect(result.current.connected).toBe(true));

  const sent = await rest('POST', '/api/messages/', alice, { recipient_id: 2, subject: 'Hi', body: 'from the hook test' });
  expect(sent.status).toBe(201);
  await waitFor(() => expect(result.current.messages).toHaveLength(1));
  expect(result.current.messages[0]).toEqual(sent.body);
  await waitFor(() => expect(result.current.unreadCount).toBe(1));

  act(() => result.current.markAsRead(sent.body.id));
  await waitFor(() => expect(result.current.messages[0].is_read).toBe(true));
  expect(result.current.messages[0].read_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  await waitFor(() => expect(result.current.unreadCount).toBe(0));

  await rest('POST', '/api/messages/', alice, { recipient_id: 2, subject: 'Again', body: 'two' });
  await waitFor(() => expect(result.current.unreadCount).toBe(1));
  act(() => result.current.getUnreadCount());
  await waitFor(() => expect(result.current.messages).toHaveLength(2));
  unmount();
});

test('the hook reconnects after the hub restarts', async () => {
  const bob = token(2, 'bob');
  const alice = token(1, 'alice');
  const { result, unmount } = renderHook(() =>
    useMessageWebSocket(bob, { baseUrl: `ws://127.0.0.1:${port}`, initialDelayMs: 100, maxDelayMs: 500 }),
  );
  await waitFor(() => expect(result.current.connected).toBe(true));
  await stopHub();
  await waitFor(() => expect(result.current.connected).toBe(false));
  await startHub();
  await waitFor(() => expect(result.current.connected).toBe(true), { timeout: 15000 });
  const sent = await rest('POST', '/api/messages/', alice, { recipient_id: 2, subject: 'After', body: 'restart' });
  await waitFor(() => expect(result.current.messages[0]?.id).toBe(sent.body.id));
  unmount();
});
