// A `concord-load` worker process (forked by cli.ts, IPC): runs its share of the bots and
// reports counters every 5 s and at the end. Not a public API.
import {
  encodeMediaFrame,
  FrameCodec,
  FrameType,
  frameTypeOf,
  MediaFlags,
  Op,
  PROTOCOL_VERSION,
} from '@concord/protocol';
import WebSocket from 'ws';
import { mintToken } from '../auth/tokens.js';
import type { LoadOptions } from './options.js';
import { newCounters, type WorkerStats } from './stats.js';

interface StartCommand {
  cmd: 'start';
  options: LoadOptions;
  firstBot: number;
  count: number;
  /** This worker's share of the ramp, connections per second. */
  rampPerSec: number;
}

const codec = new FrameCodec({ compressionThresholdBytes: 0 });
const stats: WorkerStats = { ...newCounters(), rtts: [] };
let rttSeen = 0;
const MAX_RTTS = 20_000;
let stopping = false;
const bots = new Set<Bot>();
const talking = new Set<Bot>();
const PAYLOAD = new Uint8Array(40).fill(0x55);

function noteRtt(ms: number): void {
  rttSeen++;
  if (stats.rtts.length < MAX_RTTS) stats.rtts.push(ms);
  else {
    // Reservoir sampling (Vitter's algorithm R): every round trip equally likely to be kept.
    const j = Math.floor(Math.random() * rttSeen);
    if (j < MAX_RTTS) stats.rtts[j] = ms;
  }
}

class Bot {
  private ws: WebSocket | undefined;
  private beat: ReturnType<typeof setTimeout> | undefined;
  private churnTimer: ReturnType<typeof setTimeout> | undefined;
  private beatSentAt = 0;
  private nonce = 0;
  private lastSeq = 0;
  ssrc = 0;
  seq = 0;
  private generation = 0;

  constructor(
    private readonly o: LoadOptions,
    private readonly n: number,
    private readonly url: string,
    private readonly address: string,
  ) {}

  get room(): string {
    return `${this.o.userPrefix}-room-${Math.floor(this.n / this.o.roomSize)}`;
  }

  async start(): Promise<void> {
    const generation = ++this.generation;
    const userId = `${this.o.userPrefix}-${this.n}`;
    const token = this.o.secret
      ? await mintToken(this.o.secret, { userId, ttlSeconds: this.o.durationSec + 3_600 })
      : `dev:${userId}`;
    if (stopping) return;
    stats.started++;
    const ws = new WebSocket(this.url, { localAddress: this.address, perMessageDeflate: false });
    this.ws = ws;
    let ready = false;
    let interval = 30_000;
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.stopTimers();
      if (generation !== this.generation || stopping) return;
      if (ready) stats.dropped++;
      else stats.failed++;
    });
    ws.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data);
      if (frameTypeOf(bytes) === FrameType.Media) {
        stats.framesReceived++;
        return;
      }
      for (const m of codec.decodeServerFrame(bytes)) {
        if (m.op === Op.Hello) {
          interval = m.d.heartbeatIntervalMs;
          ws.send(
            codec.encode({
              op: Op.Identify,
              d: {
                protocolVersion: PROTOCOL_VERSION,
                token,
                capabilities: { transports: ['ws'], codecs: ['opus'], client: 'concord-load' },
              },
            }),
          );
        } else if (m.op === Op.Ready) {
          ready = true;
          stats.ready++;
          // The first heartbeat right after READY (as the SDK does), then one per interval.
          const send = (): void => {
            if (ws.readyState !== ws.OPEN) return;
            this.beatSentAt = performance.now();
            ws.send(
              codec.encode({ op: Op.Heartbeat, d: { seq: this.lastSeq, nonce: ++this.nonce } }),
            );
            this.beat = setTimeout(send, interval);
          };
          send();
          if (this.o.mode !== 'idle')
            ws.send(codec.encode({ op: Op.JoinRoom, d: { req: 1, room: this.room } }));
          if (this.o.mode === 'churning') {
            this.churnTimer = setTimeout(() => this.churn(), 2_000 + Math.random() * 8_000);
          }
        } else if (m.op === Op.HeartbeatAck) {
          if (m.d.nonce === this.nonce && this.beatSentAt > 0)
            noteRtt(performance.now() - this.beatSentAt);
          this.beatSentAt = 0;
        } else if (m.op === Op.Dispatch) {
          stats.events++;
          this.lastSeq = m.seq;
          if (m.t === 'ROOM_JOINED') {
            stats.joined++;
            const self = m.d.participants.find((p) => p.userId === userId);
            if (self && this.o.mode === 'talking') {
              this.ssrc = self.ssrc;
              talking.add(this);
            }
          }
        }
      }
    });
  }

  /** Sends one 20 ms frame (the worker's shared clock calls it). */
  frame(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN) return;
    const seq = this.seq++ & 0xffff;
    ws.send(
      encodeMediaFrame(
        { ssrc: this.ssrc, seq, timestamp: (seq * 960) >>> 0, flags: MediaFlags.Speech, level: 30 },
        PAYLOAD,
      ),
    );
    stats.framesSent++;
  }

  private churn(): void {
    stats.churns++;
    this.close();
    if (!stopping) this.start().catch(() => stats.failed++);
  }

  private stopTimers(): void {
    clearTimeout(this.beat);
    clearTimeout(this.churnTimer);
    talking.delete(this);
  }

  close(): void {
    this.generation++;
    this.stopTimers();
    this.ws?.close(1000);
  }
}

async function run(c: StartCommand): Promise<void> {
  const o = c.options;
  // One 20 ms clock for every talking bot of this worker (drift-free: next += 20).
  let next = performance.now();
  const tick = (): void => {
    if (stopping) return;
    for (const b of talking) b.frame();
    next += 20;
    setTimeout(tick, Math.max(1, next - performance.now()));
  };
  tick();
  const gapMs = 1000 / c.rampPerSec;
  const started = performance.now();
  for (let i = 0; i < c.count && !stopping; i++) {
    const n = c.firstBot + i;
    const bot = new Bot(o, n, o.urls[n % o.urls.length]!, o.addresses[n % o.addresses.length]!);
    bots.add(bot);
    bot.start().catch(() => stats.failed++);
    const wait = started + (i + 1) * gapMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  process.send!({ type: 'ramped' });
}

function finish(): void {
  stopping = true;
  for (const b of bots) b.close();
  process.send!({ type: 'done', stats });
  setTimeout(() => process.exit(0), 500).unref();
}

const progress = setInterval(
  () => process.send!({ type: 'progress', stats: { ...stats, rtts: [] } }),
  5_000,
);
progress.unref();
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'start')
    run(m as StartCommand).catch((err: unknown) =>
      process.send!({ type: 'error', message: String(err) }),
    );
  else if (m.cmd === 'stop') finish();
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
