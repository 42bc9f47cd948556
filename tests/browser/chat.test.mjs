// The chat page in headless Chromium against the real hub: two pages in one room see each
// other's messages, a late page sees the history, user text is never rendered as HTML, and
// the page reconnects by itself after the hub restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, launchBrowser } from './hub.mjs';

const WAIT = { timeout: 10000 };

async function send(page, text) {
  await page.fill('#chat-message-input', text);
  await page.press('#chat-message-input', 'Enter');
}

function lastMessage(page) {
  return page.locator('#chat-log .msg').last();
}

test('two pages in one room see each other, a late page gets the history', async () => {
  const hub = await startHub();
  const browser = await launchBrowser();
  try {
    const token = hub.token(1, 'alice');
    const alice = await browser.newPage();
    const anon = await browser.newPage();
    await alice.goto(`${hub.url}/chat/lobby/#token=${token}`);
    await anon.goto(`${hub.url}/chat/lobby/`);
    for (const page of [alice, anon]) {
      await page.locator('#state[data-state="connected"]').waitFor(WAIT);
    }
    assert.equal(await alice.textContent('#me'), 'as alice');

    await send(alice, 'hello from alice');
    for (const page of [alice, anon]) {
      await page.locator('#chat-log .msg', { hasText: 'hello from alice' }).waitFor(WAIT);
      assert.equal(await lastMessage(page).locator('.who').textContent(), 'alice:');
    }
    await anon.fill('#chat-message-input', 'hi, anonymous here');
    await anon.click('#chat-message-submit');
    await alice.locator('#chat-log .msg', { hasText: 'hi, anonymous here' }).waitFor(WAIT);
    assert.equal(await lastMessage(alice).locator('.who').textContent(), 'anonymous:');
    assert.equal(await anon.inputValue('#chat-message-input'), '');

    const late = await browser.newPage();
    await late.goto(`${hub.url}/chat/lobby/`);
    await late.locator('#chat-log .msg.history', { hasText: 'hi, anonymous here' }).waitFor(WAIT);
    const texts = await late.locator('#chat-log .msg .text').allTextContents();
    assert.deepEqual(texts, ['hello from alice', 'hi, anonymous here']);
  } finally {
    await browser.close();
    await hub.stop();
  }
});

test('user text is shown as text, never as markup', async () => {
  const hub = await startHub();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${hub.url}/chat/xss/`);
    await page.locator('#state[data-state="connected"]').waitFor(WAIT);
    const attack = '<img src=x onerror="document.title=\'owned\'">';
    await send(page, attack);
    await page.locator('#chat-log .msg .text', { hasText: '<img' }).waitFor(WAIT);
    assert.equal(await lastMessage(page).locator('.text').textContent(), attack);
    assert.equal(await page.locator('#chat-log img').count(), 0);
    assert.notEqual(await page.title(), 'owned');
  } finally {
    await browser.close();
    await hub.stop();
  }
});

test('the page reconnects after the hub restarts and shows each message once', async () => {
  let hub = await startHub();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${hub.url}/chat/again/`);
    await page.locator('#state[data-state="connected"]').waitFor(WAIT);
    await send(page, 'before restart');
    await page.locator('#chat-log .msg', { hasText: 'before restart' }).waitFor(WAIT);

    const { env } = hub;
    await hub.stop({ keepData: true });
    await page.locator('#state[data-state="reconnecting"]').waitFor(WAIT);
    hub = await startHub({ HUB_BIND: env.HUB_BIND, DATABASE_URL: env.DATABASE_URL });
    await page.locator('#state[data-state="connected"]').waitFor({ timeout: 20000 });
    await send(page, 'after restart');
    await page.locator('#chat-log .msg', { hasText: 'after restart' }).waitFor(WAIT);
    const texts = await page.locator('#chat-log .msg .text').allTextContents();
    assert.deepEqual(texts, ['before restart', 'after restart']);
  } finally {
    await browser.close();
    await hub.stop();
  }
});
