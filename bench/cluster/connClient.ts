// Client worker of connections.bench.ts (forked, IPC): opens identified connections to the
// cluster's nodes over several source addresses, then heartbeats each one at the interval HELLO
// announces (random phase) and records HEARTBEAT → HEARTBEAT_ACK round trips.
// Commands: {cmd:'open', urls, count, userPrefix, addresses, concurrency, timeoutMs} →
// {type:'opened', ready, failed, ms}; {cmd:'stats'} → {type:'stats', rtts (ms), open};
// {cmd:'exit'} closes everything and exits.
import WebSocket from 'ws';
import { FrameCodec, Op, PROTOCOL_VERSION } from '@concord/protocol';

interface OpenCommand {
  cmd: 'open';
  urls: string[];
  count: number;
  userPrefix: string;
  addresses: string[];
  concurrency: number;
  timeoutMs: number;
}

const codec = new FrameCodec();
const sockets: WebSocket[] = [];
let rtts: number[] = [];
let opened = 0;
let open = 0;

function openOne(url: string, userId: string, localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    sockets.push(ws);
    let done = false;
    let beat: ReturnType<typeof setTimeout> | undefined;
    let sentAt = 0;
    let nonce = 0;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (ok) open++;
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 30_000);
    ws.on('error', () => finish(false));
    ws.on('close', () => {
      if (done && beat !== undefined) open--;
      clearTimeout(beat);
      finish(false);
    });
    ws.on('message', (data: Buffer) => {
      for (const m of codec.decodeServerFrame(new Uint8Array(data))) {
        if (m.op === Op.Hello) {
          const interval = m.d.heartbeatIntervalMs;
          const send = () => {
            sentAt = performance.now();
            ws.send(codec.encode({ op: Op.Heartbeat, d: { seq: 0, nonce: ++nonce } }));
            beat = setTimeout(send, interval);
          };
          beat = setTimeout(send, Math.random() * interval);
          ws.send(
            codec.encode({
              op: Op.Identify,
              d: {
                protocolVersion: PROTOCOL_VERSION,
                token: `dev:${userId}`,
                capabilities: { transports: ['ws'], codecs: ['opus'], client: 'bench-cluster' },
              },
            }),
          );
        } else if (m.op === Op.Ready) finish(true);
        else if (m.op === Op.HeartbeatAck && m.d.nonce === nonce && sentAt > 0) {
          rtts.push(performance.now() - sentAt);
          sentAt = 0;
        }
      }
    });
  });
}

async function openAll(c: OpenCommand): Promise<void> {
  const started = performance.now();
  let ready = 0;
  let failed = 0;
  let next = 0;
  const deadline = Date.now() + c.timeoutMs;
  const lane = async () => {
    while (next < c.count && Date.now() < deadline) {
      const n = next++;
      const k = opened++;
      const ok = await openOne(
        c.urls[n % c.urls.length]!,
        `${c.userPrefix}-${n}`,
        c.addresses[k % c.addresses.length]!,
      );
      if (ok) ready++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  process.send!({ type: 'opened', ready, failed, ms: performance.now() - started });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'open') {
    openAll(m as OpenCommand).catch((err: unknown) =>
      process.send!({ type: 'error', message: String(err) }),
    );
  } else if (m.cmd === 'stats') {
    process.send!({ type: 'stats', rtts, open });
    rtts = [];
  } else if (m.cmd === 'exit') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
