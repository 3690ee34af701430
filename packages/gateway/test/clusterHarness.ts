// Test/bench harness for gateway clusters: real redis-server, real gateway processes started
// with --redis, and voice clients (raw protocol) that send 20 ms media frames, record when
// frames arrive, and resume on another node. Node only.
import {
  encodeMediaFrame,
  FrameType,
  frameTypeOf,
  MediaFlags,
  Op,
  type DispatchMessage,
  type ServerMessage,
} from '@concord/protocol';
import { mintToken } from '../src/auth/tokens.js';
import {
  freshLoopback,
  RawClient,
  startGateway,
  TEST_SECRET,
  waitUntil,
  type GatewayProcess,
} from './harness.js';
import { RedisServer } from './redisHarness.js';

/** A cluster under test: Redis and gateway nodes. */
export interface TestCluster {
  redis: RedisServer;
  nodes: GatewayProcess[];
  /** Starts one more node (id `n<index>`). */
  addNode(extra?: string[]): Promise<GatewayProcess>;
  destroy(): Promise<void>;
}

/** Starts Redis and `count` gateway nodes with short cluster timings. */
export async function startCluster(
  count: number,
  extra: string[] = [],
  nodeTtlMs = 1_000,
): Promise<TestCluster> {
  const redis = await RedisServer.start();
  const nodes: GatewayProcess[] = [];
  let index = 0;
  const addNode = async (more: string[] = []): Promise<GatewayProcess> => {
    const id = `n${index++}`;
    const gw = await startGateway([
      '--redis',
      redis.url,
      '--node-id',
      id,
      '--cluster-node-ttl-ms',
      String(nodeTtlMs),
      '--resume-window-ms',
      '5000',
      '--drain-timeout-ms',
      '2000',
      ...extra,
      ...more,
    ]);
    nodes.push(gw);
    return gw;
  };
  for (let i = 0; i < count; i++) await addNode();
  // Every node sees every other before the test starts (placement agrees).
  await new Promise((r) => setTimeout(r, Math.ceil(nodeTtlMs / 5) * 2 + 50));
  return {
    redis,
    nodes,
    addNode,
    destroy: async () => {
      for (const n of nodes) await n.stop('SIGKILL');
      await redis.destroy();
    },
  };
}

/** Arrival of one media frame at a listener. */
export interface Arrival {
  ssrc: number;
  seq: number;
  /** performance.now() at arrival, ms. */
  at: number;
}

/**
 * A voice client on the raw protocol: identifies, joins, sends 20 ms frames, records media
 * arrivals (with times) and dispatches across reconnections, and resumes on any node.
 */
export class VoiceClient {
  client!: RawClient;
  token = '';
  ssrc = 0;
  readonly arrivals: Arrival[] = [];
  /** Every DISPATCH seen, across connections, deduplicated by seq as the SDK does. */
  readonly events: DispatchMessage[] = [];
  /** Dispatches that arrived twice (seq already seen). */
  duplicates = 0;
  /** Seq gaps seen (a dispatch whose seq is not the next). */
  gaps = 0;
  /** Resumes that completed after a RECONNECT or a lost socket: ms from the cue to RESUMED. */
  readonly migrations: number[] = [];
  /** Where to resume after a RECONNECT or a lost socket (unset: stay down). */
  follow: (() => string) | undefined;
  private seq = 0;
  private migrating = false;
  private sending: ReturnType<typeof setInterval> | undefined;
  private sessionId = '';
  private resumeSecret = '';
  private readonly address = freshLoopback();

  constructor(readonly user: string) {}

  /** Identifies at `url` and joins `room`. */
  async start(url: string, room: string): Promise<void> {
    this.token = await mintToken(TEST_SECRET, { userId: this.user });
    this.client = await RawClient.identified(url, this.token, this.address);
    this.attach(this.client);
    this.sessionId = this.client.sessionId;
    this.resumeSecret = this.client.resumeSecret;
    await this.client.join(room);
    const joined = this.events.find((m) => m.t === 'ROOM_JOINED') as DispatchMessage & {
      t: 'ROOM_JOINED';
    };
    this.ssrc = joined.d.participants.find((p) => p.userId === this.user)!.ssrc;
  }

  /** Last dispatch seq processed. */
  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  /** Resumes the session at `url` (another node, after a drain or a failure); resolves on RESUMED. */
  async resumeAt(url: string, timeoutMs = 5_000): Promise<number> {
    const started = performance.now();
    const c = await RawClient.connect(url, this.address);
    await c.waitFor((m) => m.op === Op.Hello, timeoutMs);
    this.client = c;
    this.attach(c);
    c.resume(this.sessionId, this.token, this.lastSeq, this.resumeSecret);
    const m = await c.waitFor((x) => x.op === Op.Resumed || x.op === Op.InvalidSession, timeoutMs);
    if (m.op !== Op.Resumed) throw new Error(`resume at ${url} refused`);
    return performance.now() - started;
  }

  /** performance.now() at which each frame was sent, by frame number (seq before wrapping). */
  readonly sentAt: number[] = [];

  /** Sends a 20 ms frame now (seq increments). */
  sendFrame(): void {
    this.sentAt.push(performance.now());
    const seq = this.seq++ & 0xffff;
    const frame = encodeMediaFrame(
      { ssrc: this.ssrc, seq, timestamp: (seq * 960) >>> 0, flags: MediaFlags.Speech, level: 20 },
      new Uint8Array(40).fill(seq & 0xff),
    );
    if (this.client.closeCode === undefined && this.client.ws.readyState === 1)
      this.client.sendRaw(frame);
  }

  /** Sends a frame every 20 ms until {@link stopTalking}. */
  startTalking(): void {
    // Drift-free 20 ms clock (discord.js voice's `next += 20` pattern).
    let next = performance.now();
    const tick = (): void => {
      this.sendFrame();
      next += 20;
      this.sending = setTimeout(tick, Math.max(1, next - performance.now()));
    };
    tick();
  }

  stopTalking(): void {
    if (this.sending) clearTimeout(this.sending);
    this.sending = undefined;
  }

  /** Sends UPDATE_VOICE_STATE (a control event every member sees). */
  setMuted(room: string, muted: boolean, req: number): void {
    this.client.send({ op: Op.UpdateVoiceState, d: { req, room, muted, deafened: false } });
  }

  /** Arrivals from `ssrc`. */
  from(ssrc: number): Arrival[] {
    return this.arrivals.filter((a) => a.ssrc === ssrc);
  }

  /**
   * Largest time without a frame from `ssrc` within [fromMs, toMs] (performance.now() ms), the
   * window's edges included: a stream that stopped shows as a gap up to `toMs`.
   */
  largestGap(ssrc: number, fromMs: number, toMs: number): number {
    const times = [
      fromMs,
      ...this.from(ssrc)
        .map((a) => a.at)
        .filter((t) => t > fromMs && t < toMs),
      toMs,
    ];
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    return gap;
  }

  /**
   * The longest stretch of `sender`'s audio this client could not play within [fromMs, toMs],
   * on the sender's clock: between two frames received it is 20 ms per frame number apart plus
   * how much later the second arrived than the first (path delay growth); frames sent but
   * never received count 20 ms each. Stalls of the sender's own timer (the test process is
   * busy) do not count, lost frames and delayed delivery do. ms.
   */
  audioGap(sender: VoiceClient, fromMs: number, toMs: number): number {
    const arrival = new Map<number, number>();
    for (const a of this.from(sender.ssrc)) if (!arrival.has(a.seq)) arrival.set(a.seq, a.at);
    let gap = 0;
    let prev: { n: number; delay: number } | undefined;
    let last = -1;
    sender.sentAt.forEach((sentAt, n) => {
      if (sentAt < fromMs || sentAt > toMs) return;
      last = n;
      const at = arrival.get(n & 0xffff);
      if (at === undefined) return;
      const delay = at - sentAt;
      if (prev) gap = Math.max(gap, 20 * (n - prev.n) + Math.max(0, delay - prev.delay));
      prev = { n, delay };
    });
    if (prev && last > prev.n) gap = Math.max(gap, 20 * (last - prev.n + 1));
    if (!prev && last >= 0) gap = toMs - fromMs;
    return gap;
  }

  /** Events of type `t`. */
  eventsOf(t: string): DispatchMessage[] {
    return this.events.filter((m) => m.t === t);
  }

  close(): void {
    this.stopTalking();
    this.client?.cut();
  }

  // A RECONNECT, or the socket lost: resume at the node `follow` names (once per cue).
  private migrate(c: RawClient): void {
    if (c !== this.client || this.migrating || this.follow === undefined) return;
    this.migrating = true;
    const cue = performance.now();
    const target = this.follow();
    this.resumeAt(target)
      .then(() => this.migrations.push(performance.now() - cue))
      .catch(() => undefined)
      .finally(() => (this.migrating = false));
  }

  private attach(c: RawClient): void {
    const ws = c.ws;
    ws.on('close', () => this.migrate(c));
    ws.on('message', (data: Buffer) => {
      if (c !== this.client) return;
      const at = performance.now();
      if (frameTypeOf(new Uint8Array(data)) === FrameType.Media) {
        // Media frame header (protocol media.ts): ssrc at 1..4, seq at 5..6.
        this.arrivals.push({ ssrc: data.readUInt32BE(1), seq: data.readUInt16BE(5), at });
        return;
      }
      for (const m of c.codec.decodeServerFrame(new Uint8Array(data)) as ServerMessage[]) {
        if (m.op === Op.Reconnect) this.migrate(c);
        if (m.op !== Op.Dispatch) continue;
        const last = this.lastSeq;
        if (m.seq <= last) {
          this.duplicates++;
          continue;
        }
        if (m.seq !== last + 1) this.gaps++;
        this.events.push(m);
      }
    });
  }
}

/** Waits until `cond` holds (10 ms polls). */
export const eventually = waitUntil;
