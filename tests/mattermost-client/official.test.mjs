// The official @mattermost/client against the hub: Client4 logs in, creates a team, a
// channel and posts; WebSocketClient receives them on another user's socket, with typing and
// statuses, and resumes after a forced TCP drop without losing or repeating an event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import clientPkg from '@mattermost/client';
import WebSocket from 'ws';
import { startHub, waitFor } from './hub.mjs';

const { Client4, WebSocketClient } = clientPkg;
let hub;
let alice;
let bob;
let ids;
let channel;

async function client(username, password) {
  const c = new Client4();
  c.setUrl(hub.url);
  const me = await c.login(username, password);
  assert.equal(me.username, username);
  assert.equal(c.getToken().length, 26);
  return c;
}

/** A WebSocketClient for `c`, keeping every event, and the `ws` sockets it opened. */
function socket(c) {
  const events = [];
  const sockets = [];
  const missed = [];
  const ws = new WebSocketClient({
    newWebSocketFn: (url) => {
      const s = new WebSocket(url);
      sockets.push({ url, s });
      return s;
    },
    minWebSocketRetryTime: 300,
    reconnectJitterRange: 10,
  });
  ws.addMessageListener((msg) => events.push(msg));
  ws.addMissedMessageListener(() => missed.push(Date.now()));
  ws.initialize(hub.wsUrl, c.getToken());
  return { ws, events, sockets, missed };
}

before(async () => {
  hub = await startHub();
  ids = { alice: hub.addUser('alice', 'alice-pw'), bob: hub.addUser('bob', 'bob-pw1') };
  alice = await client('alice', 'alice-pw');
  bob = await client('bob', 'bob-pw1');
  const team = await alice.createTeam({ name: 'core', display_name: 'Core', type: 'O' });
  await bob.addToTeam(team.id, ids.bob);
  channel = await alice.createChannel({ team_id: team.id, name: 'town-square', display_name: 'Town Square', type: 'O' });
  await alice.addToChannel(ids.bob, channel.id);
});

after(async () => {
  await hub?.stop();
});

test('REST errors reach Client4 as ClientErrors with the server error id', async () => {
  const c = new Client4();
  c.setUrl(hub.url);
  await assert.rejects(c.login('alice', 'wrong'), (e) => {
    assert.equal(e.server_error_id, 'api.user.login.invalid_credentials_email_username');
    assert.equal(e.status_code, 401);
    return true;
  });
  const me = await bob.getMe();
  assert.equal(me.id, ids.bob);
  const [profile] = await bob.getProfilesByIds([ids.alice]);
  assert.equal(profile.username, 'alice');
});

test("a post by one user arrives on the other's socket, with typing and statuses", async () => {
  const b = socket(bob);
  const a = socket(alice);
  await waitFor(b.events, (m) => m.event === 'hello', 'hello on bob');
  await waitFor(a.events, (m) => m.event === 'hello', 'hello on alice');

  const post = await alice.createPost({ channel_id: channel.id, message: 'hello bob', pending_post_id: `${ids.alice}:${Date.now()}` });
  const posted = await waitFor(b.events, (m) => m.event === 'posted', 'posted');
  assert.deepEqual(JSON.parse(posted.data.post), post);
  assert.equal(posted.data.sender_name, '@alice');
  assert.equal(posted.broadcast.channel_id, channel.id);

  a.ws.userTyping(channel.id, '');
  const typing = await waitFor(b.events, (m) => m.event === 'typing', 'typing');
  assert.deepEqual({ user_id: typing.data.user_id, parent_id: typing.data.parent_id }, { user_id: ids.alice, parent_id: '' });

  const reply = await new Promise((ok) => b.ws.getStatusesByIds([ids.alice, ids.bob], ok));
  assert.deepEqual(reply.data, { [ids.alice]: 'online', [ids.bob]: 'online' });
  const statuses = await bob.getStatusesByIds([ids.alice]);
  assert.equal(statuses[0].status, 'online');

  await alice.updateStatus({ user_id: ids.alice, status: 'away' });
  const change = await waitFor(b.events, (m) => m.event === 'status_change' && m.data.status === 'away', 'away');
  assert.equal(change.data.user_id, ids.alice);
  await alice.updateStatus({ user_id: ids.alice, status: 'online' });

  // The client checks every event's seq itself: any gap would have made it reconnect.
  assert.equal(b.missed.length, 0);
  a.ws.close();
  b.ws.close();
});

test('a forced TCP drop resumes without losing or repeating an event', async () => {
  const b = socket(bob);
  await waitFor(b.events, (m) => m.event === 'hello', 'hello');
  const hello = b.events.find((m) => m.event === 'hello');
  await alice.createPost({ channel_id: channel.id, message: 'before' });
  await waitFor(b.events, (m) => m.event === 'posted' && JSON.parse(m.data.post).message === 'before', 'before');

  // The TCP connection goes without a close frame; posts are made while bob is away.
  b.sockets[0].s.terminate();
  for (const message of ['gap 1', 'gap 2', 'gap 3']) {
    await alice.createPost({ channel_id: channel.id, message });
  }
  await waitFor(b.sockets, (x) => x.url.includes(`connection_id=${hello.data.connection_id}`), 'a reconnect naming the connection');
  await waitFor(b.events, (m) => m.event === 'posted' && JSON.parse(m.data.post).message === 'gap 3', 'gap 3');
  await alice.createPost({ channel_id: channel.id, message: 'after' });
  await waitFor(b.events, (m) => m.event === 'posted' && JSON.parse(m.data.post).message === 'after', 'after');

  const messages = b.events.filter((m) => m.event === 'posted').map((m) => JSON.parse(m.data.post).message);
  assert.deepEqual(messages, ['before', 'gap 1', 'gap 2', 'gap 3', 'after']);
  assert.equal(b.events.filter((m) => m.event === 'hello').length, 1, 'resumed: no second hello');
  assert.equal(b.missed.length, 0, 'nothing missed');
  const seqs = b.events.map((m) => m.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => i), 'every seq once, in order');
  b.ws.close();
});
