// The practice pages in headless Chromium: the PC page creates a session, the phone page taps
// a chord and starts practice, and the PC page follows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, launchBrowser } from './hub.mjs';

const WAIT = { timeout: 10000 };

test('a chord tapped on the remote appears on the PC page', async () => {
  const hub = await startHub();
  const browser = await launchBrowser();
  try {
    const token = hub.token(1, 'ann');
    const pc = await browser.newPage();
    // The PC starts from /guitar/ and creates the session itself.
    await pc.goto(`${hub.url}/guitar/#token=${token}`);
    await pc.click('#create');
    await pc.waitForURL(/\/guitar\/[A-Za-z0-9_-]{22}\/#token=/, WAIT);
    await pc.locator('#state[data-state="connected"]').waitFor(WAIT);
    const remoteUrl = await pc.getAttribute('#remote-link', 'href');
    assert.match(remoteUrl, /\/guitar\/[A-Za-z0-9_-]{22}\/remote\/#token=/);

    const phone = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await phone.goto(remoteUrl);
    await phone.locator('#state[data-state="connected"]').waitFor(WAIT);
    await pc.locator('#connections', { hasText: '2' }).waitFor(WAIT);

    await phone.click('.chord[data-chord="Am7"]');
    await pc.locator('#chord', { hasText: 'Am7' }).waitFor(WAIT);
    assert.equal(await pc.textContent('#chord'), 'Am7');
    await phone.click('.chord[data-chord="G"]');
    await pc.waitForFunction(() => document.getElementById('chord').textContent === 'G', null, WAIT);

    await phone.click('#practice-toggle');
    await pc.locator('#practice[data-practicing="true"]').waitFor(WAIT);
    await phone.locator('#practice-toggle[data-practicing="true"]').waitFor(WAIT);
    await phone.click('#practice-toggle');
    await pc.locator('#practice[data-practicing="false"]').waitFor(WAIT);

    // A PC page opened later shows the current chord at once.
    const late = await browser.newPage();
    await late.goto(pc.url());
    await late.waitForFunction(() => document.getElementById('chord').textContent === 'G', null, WAIT);
    await phone.locator('#latency', { hasText: 'ms' }).waitFor(WAIT);
  } finally {
    await browser.close();
    await hub.stop();
  }
});
