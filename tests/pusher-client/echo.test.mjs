// pusher-js, Laravel Echo (broadcasters `pusher` and `reverb`) and the `pusher` server SDK
// against the real hub: channels of every kind, events triggered through the SDK, whispers,
// presence, signed webhooks, and two nodes sharing one Redis.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Echo from 'laravel-echo';
import PusherJs from 'pusher-js';
import Pusher from 'pusher';
import { APP, startAuthServer, startHub, startWebhookReceiver, until, waitFor } from './hub.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when a pusher-js channel is subscribed; rejects on its subscription error. */
function subscribed(channel) {
  return new Promise((ok, fail) => {
    channel.bind('pusher:subscription_succeeded', ok);
    channel.bind('pusher:subscription_error', (e) => fail(new Error(JSON.stringify(e))));
  });
}

function pusherJs(hub, options = {}) {
  return new PusherJs(APP.key, {
    wsHost: hub.host,
    wsPort: hub.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    disableStats: true,
    ...options,
  });
}

/** An Echo client as a Laravel page makes one, for `user` ({id, name}). */
function echo(hub, auth, broadcaster, user) {
  return new Echo({
    broadcaster,
    key: APP.key,
    cluster: broadcaster === 'pusher' ? 'mt1' : undefined,
    wsHost: hub.host,
    wsPort: hub.port,
    wssPort: hub.port,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    authEndpoint: auth.url,
    // A headers object of its own: Echo's `bearerToken` writes into defaults every Echo
    // instance of a process shares, and a page has one Echo where this test has two.
    auth: { headers: { Authorization: `Bearer ${user.id}:${user.name}` } },
    Pusher: PusherJs,
    disableStats: true,
  });
}

/** Resolves when an Echo channel is subscribed. */
function echoSubscribed(channel) {
  return new Promise((ok, fail) => {
    channel.subscribed(ok);
    channel.error((e) => fail(new Error(JSON.stringify(e))));
  });
}

const ann = { id: 1, name: 'Ann' };
const bob = { id: 2, name: 'Bob' };

describe('one node', () => {
  let hub;
  let auth;
  let hooks;
  before(async () => {
    hooks = await startWebhookReceiver();
    auth = await startAuthServer();
    hub = await startHub({ webhookUrl: hooks.url });
  });
  after(async () => {
    await hub.stop();
    auth.close();
    hooks.close();
  });

  test('pusher-js: public and private channels hear the SDK; refused auth is an error', async () => {
    const client = pusherJs(hub, {
      channelAuthorization: { endpoint: auth.url, transport: 'ajax', headers: { Authorization: 'Bearer 1:Ann' } },
    });
    try {
      const orders = client.subscribe('orders');
      const mine = client.subscribe('private-orders.5');
      await Promise.all([subscribed(orders), subscribed(mine)]);
      assert.match(client.connection.socket_id, /^\d+\.\d+$/);
      const got = [];
      orders.bind('OrderShipped', (d) => got.push(['orders', d]));
      mine.bind('OrderShipped', (d) => got.push(['private-orders.5', d]));
      await hub.sdk.trigger(['orders', 'private-orders.5'], 'OrderShipped', { order: { id: 5 } });
      await until(() => got.length === 2, 'both events');
      assert.deepEqual(got.sort(), [['orders', { order: { id: 5 } }], ['private-orders.5', { order: { id: 5 } }]]);

      // The app's endpoint refuses: pusher-js reports it, and the hub never subscribed.
      const forbidden = client.subscribe('private-forbidden-1');
      const error = await new Promise((ok) => forbidden.bind('pusher:subscription_error', ok));
      assert.equal(error.status, 403);
      assert.deepEqual(await (await hub.sdk.get({ path: '/channels' })).json(), {
        channels: { orders: {}, 'private-orders.5': {} },
      });
    } finally {
      client.disconnect();
    }

    // A signature that is not the app's: the hub answers with a subscription error.
    const forger = pusherJs(hub, {
      channelAuthorization: { customHandler: (_params, callback) => callback(null, { auth: `${APP.key}:${'0'.repeat(64)}` }) },
    });
    try {
      const channel = forger.subscribe('private-orders.5');
      const error = await new Promise((ok) => channel.bind('pusher:subscription_error', ok));
      assert.deepEqual(error, { type: 'AuthError', error: 'The connection is unauthorized.', status: 401 });
    } finally {
      forger.disconnect();
    }
  });

  test('the SDK with a wrong secret is refused with 401 and a JSON reason', async () => {
    const wrong = new Pusher({
      appId: APP.id, key: APP.key, secret: 'not-the-secret', host: hub.host, port: String(hub.port), useTLS: false,
    });
    await assert.rejects(wrong.trigger('orders', 'nope', {}), (e) => {
      assert.equal(e.status, 401);
      assert.deepEqual(JSON.parse(e.body), { error: 'invalid signature' });
      return true;
    });
  });

  for (const broadcaster of ['pusher', 'reverb']) {
    test(`Echo (${broadcaster}): listen, whisper, presence and toOthers`, async () => {
      const a = echo(hub, auth, broadcaster, ann);
      const b = echo(hub, auth, broadcaster, bob);
      try {
        // Public and private channels, with Echo's event namespace.
        const heard = [];
        const orders = a.channel('orders').listen('OrderShipped', (e) => heard.push(['orders', e]));
        const status = a.private('orders.5').listen('.status', (e) => heard.push(['status', e]));
        await Promise.all([echoSubscribed(orders), echoSubscribed(status)]);
        await hub.sdk.trigger('orders', 'App\\Events\\OrderShipped', { id: 5 });
        await hub.sdk.trigger('private-orders.5', 'status', { shipped: true });
        await until(() => heard.length === 2, 'two events');
        assert.deepEqual(heard, [['orders', { id: 5 }], ['status', { shipped: true }]]);

        // Presence: here, joining, leaving.
        const joining = [];
        const leaving = [];
        let aHere;
        const roomA = a.join('room.1')
          .here((users) => { aHere = users; })
          .joining((u) => joining.push(u))
          .leaving((u) => leaving.push(u));
        await until(() => aHere, 'Ann in the room');
        assert.deepEqual(aHere, [ann]);
        let bHere;
        const roomB = b.join('room.1').here((users) => { bHere = users; });
        await until(() => bHere, 'Bob in the room');
        assert.deepEqual(bHere, [ann, bob]);
        await until(() => joining.length === 1, 'Ann sees Bob join');
        assert.deepEqual(joining, [bob]);

        // Whispers go to the others on the channel, not back to the sender.
        const whispersA = [];
        const whispersB = [];
        roomA.listenForWhisper('typing', (e) => whispersA.push(e));
        roomB.listenForWhisper('typing', (e) => whispersB.push(e));
        roomB.whisper('typing', { name: 'Bob' });
        await until(() => whispersA.length === 1, 'the whisper');
        assert.deepEqual(whispersA, [{ name: 'Bob' }]);
        const chatA = a.private('chat.1');
        const chatB = b.private('chat.1');
        await Promise.all([echoSubscribed(chatA), echoSubscribed(chatB)]);
        chatA.listenForWhisper('typing', (e) => whispersA.push(e));
        chatA.whisper('typing', { name: 'Ann' });
        chatB.listenForWhisper('typing', (e) => whispersB.push(e));
        await until(() => whispersB.length === 1, 'the private whisper');
        assert.deepEqual(whispersB, [{ name: 'Ann' }]);

        // Laravel's toOthers(): the SDK names the sender's socket, which hears nothing.
        const news = [];
        a.private('chat.1').listen('.said', (e) => news.push(['a', e]));
        b.private('chat.1').listen('.said', (e) => news.push(['b', e]));
        await hub.sdk.trigger('private-chat.1', 'said', { text: 'hi' }, { socket_id: a.socketId() });
        await until(() => news.length === 1, 'the event to others');
        await sleep(200);
        assert.deepEqual(news, [['b', { text: 'hi' }]]);
        assert.deepEqual(whispersA, [{ name: 'Bob' }], 'no whisper came back to its sender');

        const users = await (await hub.sdk.get({ path: '/channels/presence-room.1/users' })).json();
        assert.deepEqual(users, { users: [{ id: '1' }, { id: '2' }] });

        b.leave('room.1');
        await until(() => leaving.length === 1, 'Ann sees Bob leave');
        assert.deepEqual(leaving, [bob]);
      } finally {
        a.disconnect();
        b.disconnect();
      }
    });
  }

  test('webhooks reach the app, each post signed', async () => {
    const room = hooks.events.filter((e) => e.channel === 'presence-room.1' && e.name !== 'client_event');
    // Two rounds (one per broadcaster), each the same story.
    const round = [
      { name: 'channel_occupied', channel: 'presence-room.1' },
      { name: 'member_added', channel: 'presence-room.1', user_id: '1' },
      { name: 'member_added', channel: 'presence-room.1', user_id: '2' },
      { name: 'member_removed', channel: 'presence-room.1', user_id: '2' },
      { name: 'channel_vacated', channel: 'presence-room.1' },
      { name: 'member_removed', channel: 'presence-room.1', user_id: '1' },
    ];
    await until(() => hooks.events.filter((e) => e.channel === 'presence-room.1' && e.name === 'member_removed').length === 4,
      'both rounds', 10000);
    const again = hooks.events.filter((e) => e.channel === 'presence-room.1' && e.name !== 'client_event');
    assert.deepEqual(again, [...round, ...round], JSON.stringify(room));
    const whisper = hooks.events.find((e) => e.name === 'client_event' && e.channel === 'presence-room.1');
    assert.equal(whisper.event, 'client-typing');
    assert.equal(whisper.user_id, '2');
    assert.deepEqual(JSON.parse(whisper.data), { name: 'Bob' });
    assert.match(whisper.socket_id, /^\d+\.\d+$/);
    assert.deepEqual(hooks.invalid, []);
  });
});

describe('two nodes on one Redis', { skip: !process.env.TEST_REDIS_URL && process.env.CI !== 'true' && 'TEST_REDIS_URL is not set' }, () => {
  let one;
  let two;
  let auth;
  before(async () => {
    if (!process.env.TEST_REDIS_URL) throw new Error('TEST_REDIS_URL is not set and CI=true');
    const env = {
      REDIS_URL: process.env.TEST_REDIS_URL,
      REDIS_PREFIX: `echo${Date.now()}${process.pid}:`,
      HUB_PRESENCE_TTL_MS: '1000',
    };
    auth = await startAuthServer();
    one = await startHub({ env });
    two = await startHub({ env });
  });
  after(async () => {
    await one?.stop();
    await two?.stop();
    auth?.close();
  });

  test('Echo clients on different nodes see each other join, whisper and leave', async () => {
    const a = echo(one, auth, 'reverb', ann);
    const b = echo(two, auth, 'pusher', bob);
    try {
      const joining = [];
      const leaving = [];
      const whispers = [];
      let aHere;
      const roomA = a.join('room.9')
        .here((users) => { aHere = users; })
        .joining((u) => joining.push(u))
        .leaving((u) => leaving.push(u))
        .listenForWhisper('typing', (e) => whispers.push(e));
      await until(() => aHere, 'Ann in the room');
      await until(async () => (await one.metric('hub_relay_subscriptions')) >= 1, 'node one subscribed');
      let bHere;
      const roomB = b.join('room.9').here((users) => { bHere = users; });
      await until(() => bHere, 'Bob in the room');
      assert.deepEqual(bHere, [ann, bob], 'the member on the other node is listed');
      await until(() => joining.length === 1, 'Ann sees Bob join');
      assert.deepEqual(joining, [bob]);
      await until(async () => (await two.metric('hub_relay_subscriptions')) >= 1, 'node two subscribed');

      roomB.whisper('typing', { name: 'Bob' });
      await until(() => whispers.length === 1, 'the whisper across nodes');
      assert.deepEqual(whispers, [{ name: 'Bob' }]);

      // Triggered on node one, heard on node two.
      const heard = [];
      roomB.listen('.moved', (e) => heard.push(e));
      await one.sdk.trigger('presence-room.9', 'moved', { to: 'hall' });
      await until(() => heard.length === 1, 'the event across nodes');
      assert.deepEqual(heard, [{ to: 'hall' }]);

      b.leave('room.9');
      await until(() => leaving.length === 1, 'Ann sees Bob leave');
      assert.deepEqual(leaving, [bob]);
      assert.ok(roomA);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });
});
