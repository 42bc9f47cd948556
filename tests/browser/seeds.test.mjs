// The seeds' own client code, unchanged, in headless Chromium against the real hub: the chat
// tutorial's page of seeds/003 (it prints every frame as `user + ':' + message`, errors too),
// and the WebSocket code of seeds/000's Next.js hook on a dev server of another port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startHub, launchBrowser, freePort } from './hub.mjs';

const WAIT = { timeout: 10000 };

// seeds/003's page, as the seed gives it (its Japanese comments translated).
const SEED_CHAT_PAGE = `<html>
    <head>
        <meta charset="utf-8">
    </head>
    <body>
    <div id="chat-log">
        <!-- the chat log goes here -->
    </div>
    <div class="sendarea" id="sendarea">
        <!-- sending a message -->
        <input type="text" id="chat-message-input">
        <input type="button" value="Send" id="chat-message-submit">
    </div>

    <script>
        let roomName = 'room_id'; // any room id

        // Open the WebSocket connection
        let chatSocket = new WebSocket(
            \`ws://\${window.location.host}/ws/chat/\${roomName}/\`
        );

        // What to do when the server sends a message
        chatSocket.onmessage = function (e) {
            let data = JSON.parse(e.data);
            // the shape of data depends on the server's answer
            let message = data["message"];
            let user = data["user"];

            // show it
            let log_box = document.querySelector("#chat-log");

            let element = document.createElement('div');
            element.innerHTML = user + ':' + message;
            log_box.appendChild(element);
        };

        // Send the message when the button is clicked
        document.querySelector("#chat-message-submit").onclick = function (e) {
            let messageInputDom = document.querySelector("#chat-message-input");
            let message = messageInputDom.value;
            // send it to the server
            chatSocket.send(JSON.stringify({
                message,
            }));
            messageInputDom.value = "";
        };

    </script>
    </body>
</html>`;

test("seeds/003's page shows a readable line for an error and for a message", async () => {
  const hub = await startHub();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    // On the hub's own origin, as the tutorial serves it from Django: a document of the hub
    // (its health answer) replaced by the seed's page. (A page the test fulfilled itself
    // would be a public page to Chromium's local network access checks, which then block
    // its socket to 127.0.0.1.)
    await page.goto(`${hub.url}/healthz`);
    const opened = page.waitForEvent('websocket', WAIT);
    await page.setContent(SEED_CHAT_PAGE);
    assert.equal((await opened).url(), `${hub.wsUrl}/ws/chat/room_id/`);
    await page.waitForFunction(() => chatSocket.readyState === WebSocket.OPEN, null, WAIT);

    // An empty message is refused; the page shows who said so and why.
    await page.click('#chat-message-submit');
    const lines = page.locator('#chat-log div');
    await lines.first().waitFor(WAIT);
    assert.deepEqual(await lines.allTextContents(), ['system:message must be 1 to 4096 characters']);

    // The socket stays open: a real message follows.
    await page.fill('#chat-message-input', 'hello from the tutorial');
    await page.click('#chat-message-submit');
    await lines.nth(1).waitFor(WAIT);
    assert.deepEqual(await lines.allTextContents(), [
      'system:message must be 1 to 4096 characters',
      'anonymous:hello from the tutorial',
    ]);
  } finally {
    await browser.close();
    await hub.stop();
  }
});

/** The WebSocket code of seeds/000's hook, on a page of a dev server on another port. */
function hookPage(hubPort, token) {
  return `<!doctype html><meta charset="utf-8"><pre id="log"></pre><script>
    const log = (line) => { document.getElementById('log').textContent += line + '\\n'; };
    const token = ${JSON.stringify(token)};
    const ws = new WebSocket(\`ws://localhost:${hubPort}/ws/messages/?token=\${token}\`);
    ws.onmessage = (event) => log(event.data);
    ws.onerror = () => log('error');
    ws.onclose = (event) => log('closed ' + event.code);
  </script>`;
}

/** A stand-in for `next dev`: serves `body` at / on `http://localhost:<port>`. */
async function devServer(body) {
  const port = await freePort();
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { url: `http://localhost:${port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

test("seeds/000's hook connects from a dev server on another port to a hub bound to loopback", async () => {
  const hub = await startHub();
  const browser = await launchBrowser();
  const hubPort = new URL(hub.url).port;
  const dev = await devServer(hookPage(hubPort, hub.token(7, 'gil')));
  try {
    const page = await browser.newPage();
    await page.goto(dev.url);
    const log = page.locator('#log');
    await page.waitForFunction(() => document.getElementById('log').textContent !== '', null, WAIT);
    assert.deepEqual(JSON.parse((await log.textContent()).trim()), {
      type: 'connection', message: 'connected', user_id: 7,
    });
  } finally {
    await browser.close();
    await dev.close();
    await hub.stop();
  }
});

test('a hub bound to every address still refuses that page', async () => {
  const port = await freePort();
  const hub = await startHub({ HUB_BIND: `0.0.0.0:${port}` });
  const browser = await launchBrowser();
  const dev = await devServer(hookPage(port, hub.token(7, 'gil')));
  try {
    const page = await browser.newPage();
    await page.goto(dev.url);
    await page.waitForFunction(() => /closed/.test(document.getElementById('log').textContent), null, WAIT);
    // A browser reports a refused handshake as an error and a close with 1006, nothing more;
    // the hub counts why.
    assert.equal((await page.locator('#log').textContent()).trim(), 'error\nclosed 1006');
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    assert.match(metrics, /^hub_handshake_failures_total\{reason="forbidden"\} 1$/m);
  } finally {
    await browser.close();
    await dev.close();
    await hub.stop();
  }
});
