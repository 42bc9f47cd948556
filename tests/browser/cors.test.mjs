// CORS in a real browser: a page served from another origin calls the hub's REST API with a
// bearer token (a preflighted POST, then a GET), as a Next.js app on its own port does. An
// origin in HUB_ALLOWED_ORIGINS reads the answers; any other is stopped by the browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startHub, launchBrowser, freePort } from './hub.mjs';

/** Serves one page at / on `host:<free port>`. */
async function pageServer(host, body) {
  const port = await freePort();
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    origin: `http://${host}:${port}`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** A page whose `call()` posts a message to the hub and reads the inbox back. */
function apiPage(hubUrl, token) {
  return `<!doctype html><script>
    async function call() {
      const auth = { Authorization: 'Bearer ${token}' };
      try {
        const sent = await fetch('${hubUrl}/api/messages/', {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/json' },
          body: JSON.stringify({ recipient_id: 2, body: 'from another origin' }),
        });
        const inbox = await fetch('${hubUrl}/api/messages/', { headers: auth });
        return { sent: sent.status, body: (await sent.json()).body, inbox: inbox.status };
      } catch (e) {
        return { failed: e.name };
      }
    }
  </script>`;
}

test('a page on a listed origin calls the REST API; one on another origin cannot', async () => {
  // Both pages are on loopback; the list decides (with a list, the loopback rule is off).
  const pages = [];
  const allowedPort = await freePort();
  const hub = await startHub({ HUB_ALLOWED_ORIGINS: `http://localhost:${allowedPort}` });
  const browser = await launchBrowser();
  try {
    // The recipient exists once the hub has seen its token.
    const bob = await fetch(`${hub.url}/api/messages/`, {
      headers: { Authorization: `Bearer ${hub.token(2, 'bob')}` },
    });
    assert.equal(bob.status, 200);
    const body = apiPage(hub.url, hub.token(1, 'ann'));
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(body);
    });
    await new Promise((ok) => server.listen(allowedPort, '127.0.0.1', ok));
    pages.push({ close: () => new Promise((ok) => server.close(ok)) });
    const other = await pageServer('127.0.0.1', body);
    pages.push(other);

    const page = await browser.newPage();
    await page.goto(`http://localhost:${allowedPort}/`);
    assert.deepEqual(await page.evaluate(() => call()), {
      sent: 201, body: 'from another origin', inbox: 200,
    });

    await page.goto(`${other.origin}/`);
    assert.deepEqual(await page.evaluate(() => call()), { failed: 'TypeError' });
    // The refused preflight stored nothing: one message, the listed page's.
    const inbox = await fetch(`${hub.url}/api/messages/`, {
      headers: { Authorization: `Bearer ${hub.token(1, 'ann')}` },
    });
    const listed = await inbox.json();
    assert.deepEqual(listed.results.map((m) => m.body), ['from another origin']);
  } finally {
    await browser.close();
    for (const p of pages) await p.close();
    await hub.stop();
  }
});
