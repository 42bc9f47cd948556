// A Node `ws` hub speaking the chat protocol: every {"message"} sent to /ws/chat/{room}/ goes
// to every member of the room as {"message", "user": "anonymous"} — the shape of the Node hub
// beside the Laravel app of seeds/004.
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const [host, port] = (process.env.BIND || '127.0.0.1:8002').split(':');
const rooms = new Map();
const server = http.createServer((req, res) => { res.writeHead(200); res.end('ok'); });
const wss = new WebSocketServer({ server, perMessageDeflate: false });

wss.on('connection', (ws, req) => {
  const room = req.url;
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on('message', (data) => {
    let message;
    try { message = JSON.parse(data).message; } catch { return; }
    const out = JSON.stringify({ message, user: 'anonymous' });
    for (const peer of members) if (peer.readyState === WebSocket.OPEN) peer.send(out);
  });
  ws.on('close', () => { members.delete(ws); if (members.size === 0) rooms.delete(room); });
});

server.listen(Number(port), host, () => console.log(`node-ws peer listening on ${host}:${port}`));
