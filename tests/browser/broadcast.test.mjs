// The job-progress page in headless Chromium: a Laravel-style job publishes progress through
// Redis (scripts/publish-progress.sh) and the page's bar moves to 100 %.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { startHub, launchBrowser, freePort } from './hub.mjs';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'publish-progress.sh');

/** The Redis of scripts/test.sh, or a throw-away one started here (stopped by its PID). */
async function redis() {
  if (process.env.TEST_REDIS_URL) return { url: process.env.TEST_REDIS_URL, stop: async () => {} };
  if (process.env.CI === 'true') throw new Error('TEST_REDIS_URL is not set and CI=true');
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try { await run('redis-cli', ['-p', String(port), 'ping']); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  return {
    url: `redis://127.0.0.1:${port}/`,
    stop: async () => { const exited = new Promise((r) => child.once('exit', r)); child.kill(); await exited; },
  };
}

async function subscribed(url, channel) {
  for (let i = 0; i < 200; i++) {
    const { stdout } = await run('redis-cli', ['-u', url, 'PUBSUB', 'NUMSUB', channel]);
    if (Number(stdout.trim().split('\n')[1]) >= 1) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`hub never subscribed to ${channel}`);
}

test('a job publishing through Redis moves the progress bar to 100%', async () => {
  const server = await redis();
  const prefix = `browser${process.pid}_`;
  const hub = await startHub({ REDIS_URL: server.url, REDIS_PREFIX: prefix });
  const browser = await launchBrowser();
  try {
    await subscribed(server.url, `${prefix}broadcast`);
    const token = hub.token(1, 'alice', ['--channel', 'jobs:1']);
    const page = await browser.newPage();
    await page.goto(`${hub.url}/broadcast/progress/#token=${token}`);
    await page.locator('#state[data-state="connected"]').waitFor({ timeout: 10000 });
    assert.equal(await page.textContent('#who'), 'On this channel: alice');

    const job = run(SCRIPT, ['--channel', 'jobs:1', '--total', '10', '--title', 'Import <users>',
      '--interval', '0.15', '--redis-url', server.url, '--prefix', prefix]);
    const bar = page.locator('.job[data-title="Import <users>"] progress');
    await bar.waitFor({ timeout: 10000 });
    // The bar is seen part-way, then full.
    await page.waitForFunction(() => {
      const b = document.querySelector('.job progress');
      return b && b.value > 0 && b.value < b.max;
    }, null, { timeout: 10000 });
    await job;
    await page.waitForFunction(() => {
      const b = document.querySelector('.job progress');
      return b && b.value === 10 && b.max === 10;
    }, null, { timeout: 10000 });
    assert.equal(await page.textContent('.job .percent'), '10 / 10 (100%)');
    assert.equal(await page.textContent('.job .title span'), 'Import <users>');
  } finally {
    await browser.close();
    await hub.stop();
    await server.stop();
  }
});

test('without a token the page asks for one', async () => {
  const hub = await startHub();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${hub.url}/broadcast/progress/`);
    assert.equal(await page.isVisible('#token-form'), true);
    await page.fill('#token-input', hub.token(2, 'bob', ['--channel', 'jobs:2']));
    await page.click('#token-form button');
    await page.locator('#state[data-state="connected"]').waitFor({ timeout: 10000 });
    assert.equal(await page.textContent('#who'), 'On this channel: bob');
  } finally {
    await browser.close();
    await hub.stop();
  }
});
