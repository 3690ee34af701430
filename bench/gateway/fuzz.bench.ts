// Seeded fuzzing of the gateway's real receive path (issue 10, "Proof"): 1,000,000 control
// frames and 1,000,000 media frames, each delivered to a real `Connection` of a real `Gateway`
// (in process, a stand-in socket instead of TCP) — before IDENTIFY and after READY — so every
// byte goes through the same pre-auth checks, byte budget, decoder, rate limits, handlers and
// media relay as on the wire. A finding is anything but a documented close code or acceptance:
// an exception escaping, an unhandled rejection, an undocumented close code, unbounded memory.
//
//   npm run bench gateway/fuzz        FUZZ_CONTROL / FUZZ_MEDIA / FUZZ_SEED override the counts
import { EventEmitter } from 'node:events';
import {
  closeCodeName,
  encodeMediaFrame,
  FrameCodec,
  MediaFlags,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
} from '../../packages/protocol/src/index.js';
import { makeInput } from '../../packages/protocol/src/fuzzInputs.test-util.js';
import { Connection } from '../../packages/gateway/src/Connection.js';
import { Gateway } from '../../packages/gateway/src/Gateway.js';
import { GatewayMetrics } from '../../packages/gateway/src/metrics.js';
import { rng } from '../../packages/testing/src/index.js';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { report, round, type BenchRow } from '../lib/harness.js';

const CONTROL = Number(process.env.FUZZ_CONTROL ?? 1_000_000);
const MEDIA = Number(process.env.FUZZ_MEDIA ?? 1_000_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed10);

/** A `ws` stand-in that only records how the connection ended. */
class NullSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  closeCode: number | undefined;
  readyFrames = 0;
  send(frame: Uint8Array): void {
    // READY is the first control frame after HELLO carrying op 2: [0x00, 0x96, 0x02, ...].
    if (frame[0] === 0x00 && frame[2] === Op.Ready) this.readyFrames++;
  }
  ping(): void {}
  close(code: number): void {
    this.end(code);
  }
  terminate(): void {
    this.end(1006);
  }
  private end(code: number): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.closeCode = code;
    this.emit('close', code);
  }
}

const findings: string[] = [];
const note = (what: string): void => {
  if (findings.length < 50) findings.push(what);
};
process.on('uncaughtException', (err) => note(`uncaught: ${String(err)}`));
process.on('unhandledRejection', (err) => note(`unhandled rejection: ${String(err)}`));

const gateway = new Gateway(
  {
    port: 0,
    insecureDevAuth: true,
    batchWindowMs: 0,
    // Generous budgets so inputs reach the decoder and handlers instead of the rate limits.
    rateLimitMessages: 1_000_000_000,
    speakingRateLimitMessages: 1_000_000_000,
    reportRateLimitMessages: 1_000_000_000,
    rateLimitBytes: 1_000_000_000,
    mediaRateLimitFps: 1_000_000,
    mediaBurstFrames: 1_000_000,
    maxSessionsPerUser: 1_000_000,
  },
  { logger: pino({ level: 'silent' }), metrics: new GatewayMetrics({ processMetrics: false }) },
);

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
let userCounter = 0;

async function identified(): Promise<{ ws: NullSocket; ssrc: number }> {
  const ws = new NullSocket();
  new Connection(ws as unknown as WebSocket, '10.9.9.9', gateway);
  const user = `fuzz-${++userCounter}`;
  ws.emit('message', Buffer.from(sendCodec.encode(identify(`dev:${user}`))), true);
  await settle();
  ws.emit(
    'message',
    Buffer.from(sendCodec.encode({ op: Op.JoinRoom, d: { req: 1, room: `r${userCounter % 50}` } })),
    true,
  );
  await settle();
  const session = [...gateway.sessions.values()].find((s) => s.userId === user);
  const ssrc = session?.ssrcs.get(`r${userCounter % 50}`) ?? 1;
  return { ws, ssrc };
}

const sendCodec = new FrameCodec({ compressionThresholdBytes: 0 });
const lz4Codec = new FrameCodec({ compressionThresholdBytes: 16 });
const identify = (token: string): ClientMessage => ({
  op: Op.Identify,
  d: {
    protocolVersion: PROTOCOL_VERSION,
    token,
    capabilities: { transports: ['ws'], codecs: ['opus'], client: 'fuzz' },
  },
});
const controlSeeds: ClientMessage[] = [
  identify('dev:seed'),
  { op: Op.Heartbeat, d: { nonce: 7, seq: 3 } },
  {
    op: Op.Resume,
    d: {
      protocolVersion: PROTOCOL_VERSION,
      sessionId: 'x'.repeat(22),
      token: 'dev:seed',
      seq: 4,
      resumeSecret: 'y'.repeat(32),
    },
  },
  { op: Op.JoinRoom, d: { req: 1, room: 'lobby' } },
  { op: Op.LeaveRoom, d: { req: 2, room: 'lobby' } },
  { op: Op.UpdateVoiceState, d: { req: 3, room: 'lobby', muted: true, deafened: false } },
  { op: Op.Speaking, d: { room: 'lobby', speaking: true } },
  {
    op: Op.ReceiverReport,
    d: { room: 'lobby', reports: [{ ssrc: 7, fractionLost: 3, jitterMs: 9, lostTotal: 2 }] },
  },
  { op: Op.RefreshToken, d: { req: 4, token: 'dev:seed' } },
];
const seeds = [
  ...controlSeeds.map((m) => sendCodec.encode(m)),
  sendCodec.encode(controlSeeds.slice(1)),
  lz4Codec.encode(identify(`dev:${'z'.repeat(80)}`)),
];

type Tally = { accepted: number; closed: Map<number, number>; undocumented: number };
const tally = (): Tally => ({ accepted: 0, closed: new Map(), undocumented: 0 });
const count = (t: Tally, ws: NullSocket): void => {
  if (ws.closeCode === undefined) {
    t.accepted++;
    return;
  }
  t.closed.set(ws.closeCode, (t.closed.get(ws.closeCode) ?? 0) + 1);
  if (closeCodeName(ws.closeCode) === undefined && ws.closeCode !== 1006) {
    t.undocumented++;
    note(`undocumented close code ${ws.closeCode}`);
  }
};

async function fuzzControl(n: number, next: () => number) {
  const pre = tally();
  const post = tally();
  let ready = await identified();
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const input = makeInput(next, seeds);
    if (i % 2 === 0) {
      // Before IDENTIFY: a fresh connection's first frame.
      const ws = new NullSocket();
      new Connection(ws as unknown as WebSocket, '10.9.9.8', gateway);
      ws.emit('message', Buffer.from(input), true);
      if (i % 64 === 0) await settle();
      count(pre, ws);
      if (ws.closeCode === undefined) ws.emit('close', 1006);
    } else {
      // After READY: the same connection until something closes it.
      ready.ws.emit('message', Buffer.from(input), true);
      if (i % 64 === 1) await settle();
      if (ready.ws.closeCode !== undefined) {
        count(post, ready.ws);
        ready = await identified();
      } else post.accepted++;
    }
  }
  await settle();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { pre, post, seconds };
}

async function fuzzMedia(n: number, next: () => number) {
  const t = tally();
  // Members join rooms r0…r49 in turn, so most rooms have listeners and frames are forwarded.
  let member = await identified();
  const started = process.hrtime.bigint();
  const int = (k: number): number => Math.floor(next() * k);
  for (let i = 0; i < n; i++) {
    let frame: Uint8Array;
    if (next() < 0.2) {
      frame = new Uint8Array(int(1400));
      for (let j = 0; j < frame.length; j++) frame[j] = int(256);
      if (frame.length > 0 && next() < 0.8) frame[0] = 0x40;
    } else {
      frame = encodeMediaFrame(
        {
          ssrc: next() < 0.9 ? member.ssrc : 1 + int(0xfffffffe),
          seq: int(0x10000),
          timestamp: int(2 ** 32),
          flags:
            int(16) & (MediaFlags.Speech | MediaFlags.Fec | MediaFlags.Dtx | MediaFlags.Resumed),
          level: int(128),
        },
        new Uint8Array(int(300)),
      );
      for (let m = int(3); m > 0; m--) frame[int(Math.min(13, frame.length))] = int(256);
    }
    member.ws.emit('message', Buffer.from(frame), true);
    if (member.ws.closeCode !== undefined) {
      count(t, member.ws);
      member = await identified();
    } else t.accepted++;
    if (i % 4096 === 0) await settle();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { media: t, seconds };
}

const rssStart = process.memoryUsage().rss;
const next = rng(SEED);
const control = await fuzzControl(CONTROL, next);
const media = await fuzzMedia(MEDIA, next);
await settle();
// Closed connections wait up to 5 s for their close handshake: let those timers run out, then
// collect, so what is left is what the fuzzing kept.
await new Promise((r) => setTimeout(r, 6_000));
(globalThis as { gc?: () => void }).gc?.();
const rssEnd = process.memoryUsage().rss;
const sessionsLeft = gateway.sessions.size;
await gateway.close();

const codes = (t: Tally) =>
  Object.fromEntries(
    [...t.closed.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([code, n]) => [`${code} ${closeCodeName(code) ?? ''}`.trim(), n]),
  );
const rows: BenchRow[] = [
  {
    name: 'fuzz.control.frames',
    median: CONTROL,
    unit: 'frames',
    goal: '>= 1,000,000, no findings',
    met: CONTROL >= 1_000_000 && findings.length === 0,
    framesPerSecond: round(CONTROL / control.seconds, 0),
    preAuth: { accepted: control.pre.accepted, closedBy: codes(control.pre) },
    postAuth: { accepted: control.post.accepted, closedBy: codes(control.post) },
  },
  {
    name: 'fuzz.media.frames',
    median: MEDIA,
    unit: 'frames',
    goal: '>= 1,000,000, no findings',
    met: MEDIA >= 1_000_000 && findings.length === 0,
    framesPerSecond: round(MEDIA / media.seconds, 0),
    accepted: media.media.accepted,
    closedBy: codes(media.media),
  },
  {
    name: 'fuzz.findings',
    median: findings.length,
    unit: 'findings',
    goal: '0',
    met: findings.length === 0,
    findings,
  },
  {
    name: 'fuzz.rssGrowth',
    median: round((rssEnd - rssStart) / 1048576, 1),
    unit: 'MiB',
    sessionsLeft,
  },
];
report('gateway-fuzz', rows, { seed: SEED, control: CONTROL, media: MEDIA });
process.exit(0);
