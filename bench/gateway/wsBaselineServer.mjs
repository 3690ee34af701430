// Same-run baselines on plain `ws` (no protocol, no sessions), forked by the benchmarks:
//   idle  (idle.bench.ts): accepts connections and keeps them idle;
//   relay (fanout.bench.ts): forwards each binary message to the other sockets that connected
//         with the same `?room=` — the least work a fan-out server can do.
// Reports {type:'listening', port} over IPC.
import { WebSocketServer } from 'ws';

const mode = process.argv[2] ?? 'idle';
const rooms = new Map();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  if (mode !== 'relay') {
    ws.on('message', () => {});
    return;
  }
  const room = new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
  let members = rooms.get(room);
  if (!members) rooms.set(room, (members = new Set()));
  members.add(ws);
  ws.on('message', (data) => {
    for (const other of members) if (other !== ws) other.send(data, { binary: true });
  });
  ws.on('close', () => members.delete(ws));
});
wss.on('listening', () => {
  const address = wss.address();
  process.send?.({ type: 'listening', port: typeof address === 'string' ? 0 : address.port });
});
process.on('disconnect', () => process.exit(0));
