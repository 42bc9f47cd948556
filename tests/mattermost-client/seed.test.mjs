// The seed's own client (seeds/002, as written) against the hub, with a browser-like
// WebSocket (the `ws` package's, which has the browser's onopen/onmessage/onclose API):
// it authenticates with its seq-less challenge, and its handlers and channel filter see
// posts, edits, deletions, typing and other users' statuses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import clientPkg from '@mattermost/client';
import { startHub, waitFor } from './hub.mjs';
import { WebSocketManager, state } from './seed/client.mjs';

const { Client4 } = clientPkg;
let hub;

before(async () => {
  hub = await startHub();
});

after(async () => {
  await hub?.stop();
});

test("the seed's WebSocketManager authenticates and its handlers receive the channel's events", async () => {
  const ids = { alice: hub.addUser('alice', 'alice-pw'), bob: hub.addUser('bob', 'bob-pw1') };
  const login = async (u, p) => { const c = new Client4(); c.setUrl(hub.url); await c.login(u, p); return c; };
  const alice = await login('alice', 'alice-pw');
  const bob = await login('bob', 'bob-pw1');
  const team = await alice.createTeam({ name: 'core', display_name: 'Core', type: 'O' });
  await bob.addToTeam(team.id, ids.bob);
  const channel = await alice.createChannel({ team_id: team.id, name: 'town-square', display_name: 'Town Square', type: 'O' });
  await alice.addToChannel(ids.bob, channel.id);
  state.currentChannel = channel;

  const manager = new WebSocketManager();
  await manager.connect(hub.wsUrl, bob.getToken()); // resolves on 'authenticated', or times out
  assert.equal(state.error, null);

  // alice's socket (the official client's way is tested elsewhere): her status reaches bob.
  const aliceManager = new WebSocketManager();
  await aliceManager.connect(hub.wsUrl, alice.getToken());
  await waitFor(state.actions, (a) => a.type === 'STATUS' && a.payload.user_id === ids.alice && a.payload.status === 'online', "alice's status");

  const post = await alice.createPost({ channel_id: channel.id, message: 'こんにちは' });
  const added = await waitFor(state.actions, (a) => a.type === 'ADD_POST', 'ADD_POST');
  assert.deepEqual(added.payload, { channelId: channel.id, post });

  const edited = await alice.patchPost({ id: post.id, message: '編集済み' });
  const updated = await waitFor(state.actions, (a) => a.type === 'UPDATE_POST', 'UPDATE_POST');
  assert.deepEqual(updated.payload, { channelId: channel.id, post: edited });

  aliceManager.ws.send(JSON.stringify({ seq: 1, action: 'user_typing', data: { channel_id: channel.id, parent_id: '' } }));
  const typing = await waitFor(state.actions, (a) => a.type === 'TYPING', 'TYPING');
  assert.equal(typing.payload.user_id, ids.alice);
  assert.equal(typing.payload.channel_id, channel.id);

  await alice.deletePost(post.id);
  const deleted = await waitFor(state.actions, (a) => a.type === 'DELETE_POST', 'DELETE_POST');
  // The seed reads data.post.id; Mattermost sends data.post as a JSON string (SPEC §7).
  assert.deepEqual(deleted.payload, { channelId: channel.id, postId: undefined });

  assert.deepEqual(state.actions.filter((a) => a.type === 'LOG_ERROR'), []);
  manager.disconnect();
  aliceManager.disconnect();
});
