// Client worker of idle.bench.ts (forked, IPC): opens identified connections and keeps them
// idle. Commands: {cmd:'open', url, count, userPrefix, addresses, concurrency} →
// {type:'opened', ready, failed}; {cmd:'exit'} closes everything and exits.
import WebSocket from 'ws';
import { FrameCodec, Op, PROTOCOL_VERSION } from '@concord/protocol';

interface OpenCommand {
  cmd: 'open';
  url: string;
  count: number;
  userPrefix: string;
  addresses: string[];
  concurrency: number;
  timeoutMs: number;
  /** false: count a connection once open (plain `ws` baseline, which speaks no protocol). */
  identify: boolean;
}

const codec = new FrameCodec();
const sockets: WebSocket[] = [];
let opened = 0;

function openOne(
  url: string,
  userId: string,
  localAddress: string,
  identify: boolean,
): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    sockets.push(ws);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 20_000);
    ws.on('error', () => finish(false));
    if (!identify) ws.on('open', () => finish(true));
    ws.on('close', () => finish(false));
    ws.on('message', (data: Buffer) => {
      for (const m of codec.decodeServerFrame(new Uint8Array(data))) {
        if (m.op === Op.Hello) {
          ws.send(
            codec.encode({
              op: Op.Identify,
              d: {
                protocolVersion: PROTOCOL_VERSION,
                token: `dev:${userId}`,
                capabilities: { transports: ['ws'], codecs: ['opus'], client: 'bench-idle' },
              },
            }),
          );
        } else if (m.op === Op.Ready) finish(true);
      }
    });
  });
}

async function open(c: OpenCommand): Promise<void> {
  let ready = 0;
  let failed = 0;
  let next = 0;
  const deadline = Date.now() + c.timeoutMs;
  const lane = async () => {
    while (next < c.count && Date.now() < deadline) {
      next++;
      const n = opened++;
      const ok = await openOne(
        c.url,
        `${c.userPrefix}-${n}`,
        c.addresses[n % c.addresses.length]!,
        c.identify,
      );
      if (ok) ready++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  process.send!({ type: 'opened', ready, failed, skipped: c.count - ready - failed });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'open') {
    open(m as OpenCommand).catch((err: unknown) =>
      process.send!({ type: 'error', message: String(err) }),
    );
  } else if (m.cmd === 'exit') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
