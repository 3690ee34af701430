// Test/bench harness: start the real gateway CLI as a child process, and a raw protocol client
// (no SDK) that can send anything, including garbage. Node only.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  FrameCodec,
  FrameType,
  frameTypeOf,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
  type DispatchMessage,
  type ServerMessage,
} from '@concord/protocol';
import WebSocket from 'ws';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A running gateway process. */
export interface GatewayProcess {
  port: number;
  url: string;
  child: ChildProcess;
  /** Log lines (pino JSON) seen so far. */
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `concord-gateway` on a free port with `args` (plus `--port 0`). Needs `npm run build`. */
export async function startGateway(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [CLI, '--port', '0', '--log-level', 'info', ...args], {
    env: { ...process.env, CONCORD_SECRET: TEST_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 10_000);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      if (line.includes('"event":"listening"')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}/gateway`,
    child,
    logs,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        // Already gone (exited, or killed by a signal: then exitCode stays null).
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** A raw protocol client: records every server message and the close code. */
export class RawClient {
  readonly codec = new FrameCodec();
  /** Encodes what this client sends as the SDK does: never compressed. */
  private readonly sendCodec = new FrameCodec({ compressionThresholdBytes: 0 });
  readonly received: ServerMessage[] = [];
  /** Media frames received, as the bytes that arrived. */
  readonly media: Uint8Array[] = [];
  closeCode: number | undefined;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data);
      if (frameTypeOf(bytes) === FrameType.Media) this.media.push(bytes);
      else for (const m of this.codec.decodeServerFrame(bytes)) this.received.push(m);
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
  }

  /**
   * Opens a socket (optionally from a given local address, e.g. 127.0.0.2, and with extra
   * handshake headers such as Origin).
   */
  static async connect(
    url: string,
    localAddress?: string,
    headers: Record<string, string> = {},
  ): Promise<RawClient> {
    const ws = new WebSocket(url, { ...(localAddress ? { localAddress } : {}), headers });
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Identifies with `token` and waits for READY. */
  static async identified(url: string, token: string, localAddress?: string): Promise<RawClient> {
    const c = await RawClient.connect(url, localAddress);
    await c.waitFor((m) => m.op === Op.Hello);
    c.identify(token);
    await c.waitFor((m) => m.op === Op.Ready);
    return c;
  }

  /** Sends IDENTIFY with `token`. */
  identify(token: string): void {
    this.send({
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token,
        capabilities: { transports: ['ws'], codecs: ['opus'], client: 'raw-test' },
      },
    });
  }

  /** Sends RESUME for `sessionId` with the last seen `seq` and the session's resume secret. */
  resume(sessionId: string, token: string, seq: number, resumeSecret: string): void {
    this.send({
      op: Op.Resume,
      d: { protocolVersion: PROTOCOL_VERSION, sessionId, token, seq, resumeSecret },
    });
  }

  /** The session id from READY. */
  get sessionId(): string {
    const ready = this.received.find((m) => m.op === Op.Ready);
    if (ready?.op !== Op.Ready) throw new Error('not identified');
    return ready.d.sessionId;
  }

  /** The resume secret from READY. */
  get resumeSecret(): string {
    const ready = this.received.find((m) => m.op === Op.Ready);
    if (ready?.op !== Op.Ready) throw new Error('not identified');
    return ready.d.resumeSecret;
  }

  /** Every DISPATCH received so far, in arrival order. */
  dispatches(): DispatchMessage[] {
    return this.received.filter((m): m is DispatchMessage => m.op === Op.Dispatch);
  }

  /** Seq of the last DISPATCH received (0 when none). */
  get lastSeq(): number {
    return this.dispatches().at(-1)?.seq ?? 0;
  }

  /** Joins `room` and waits for ROOM_JOINED. */
  async join(room: string, req = 1): Promise<void> {
    const from = this.received.length;
    this.send({ op: Op.JoinRoom, d: { req, room } });
    await this.waitFor(
      (m) => m.op === Op.Dispatch && m.t === 'ROOM_JOINED' && m.d.room === room,
      5_000,
      from,
    );
  }

  /** Number of received messages matching `pred`. */
  count(pred: (m: ServerMessage) => boolean): number {
    let n = 0;
    for (const m of this.received) if (pred(m)) n++;
    return n;
  }

  /** Waits until at least `n` received messages match `pred`. */
  async waitForCount(pred: (m: ServerMessage) => boolean, n: number, timeoutMs = 10_000) {
    await waitUntil(
      () => this.count(pred) >= n,
      timeoutMs,
      () => {
        if (this.closeCode !== undefined)
          throw new Error(`closed with ${this.closeCode} while waiting`);
      },
    );
  }

  send(messages: ClientMessage | ClientMessage[]): void {
    this.ws.send(this.sendCodec.encode(messages));
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  /** Resolves with the first received message matching `pred` (searching from `from`). */
  async waitFor<T extends ServerMessage = ServerMessage>(
    pred: (m: ServerMessage) => boolean,
    timeoutMs = 5_000,
    from = 0,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find(pred);
      if (hit) return hit as T;
      if (this.closeCode !== undefined)
        throw new Error(`closed with ${this.closeCode} while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code. */
  async closed(timeoutMs = 5_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error('timed out waiting for close');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closeCode;
  }

  close(code = 1000): void {
    this.ws.close(code);
  }

  /** Cuts the connection without a close frame (what a network failure looks like). */
  cut(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Polls `cond` until it holds; `check` may throw to fail early (e.g. a socket closed).
 * @throws {Error} after `timeoutMs`.
 */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  check?: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    check?.();
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** GETs `path` from a gateway and returns status and body. */
export async function httpGet(
  gateway: GatewayProcess,
  path: string,
): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${gateway.port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A sample's value in Prometheus text output (`undefined` when absent). */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

let nextAddress = 0;
/**
 * A fresh loopback source address (127.0.<n>.<m>) per call, so per-IP connection limits see
 * each test client as its own address.
 */
export function freshLoopback(): string {
  nextAddress++;
  return `127.0.${10 + Math.floor(nextAddress / 250)}.${1 + (nextAddress % 250)}`;
}

/** A room member as SPEAKING / VOICE_STATE_UPDATE name it (by ssrc), resolved. */
export interface Sender {
  room: string;
  userId: string;
}

/**
 * The sender (room and userId) of each SPEAKING and VOICE_STATE_UPDATE among `ds`, which name the member
 * by its per-membership ssrc: read, in order, from the participant lists received before the
 * event (ROOM_JOINED, PARTICIPANT_JOINED), forgetting members as they leave (PARTICIPANT_LEFT,
 * ROOM_LEFT). Throws for an event whose ssrc no earlier list announced.
 */
export function sendersOf(ds: readonly DispatchMessage[]): Map<DispatchMessage, Sender> {
  const members = new Map<number, Sender>();
  const forget = (room: string, userId?: string): void => {
    for (const [ssrc, m] of members)
      if (m.room === room && (userId === undefined || m.userId === userId)) members.delete(ssrc);
  };
  const senders = new Map<DispatchMessage, Sender>();
  for (const d of ds) {
    switch (d.t) {
      case 'ROOM_JOINED':
        for (const p of d.d.participants) members.set(p.ssrc, { room: d.d.room, userId: p.userId });
        break;
      case 'PARTICIPANT_JOINED':
        members.set(d.d.participant.ssrc, { room: d.d.room, userId: d.d.participant.userId });
        break;
      case 'PARTICIPANT_LEFT':
        forget(d.d.room, d.d.userId);
        break;
      case 'ROOM_LEFT':
        forget(d.d.room);
        break;
      case 'SPEAKING':
      case 'VOICE_STATE_UPDATE': {
        const m = members.get(d.d.ssrc);
        if (!m) throw new Error(`${d.t} seq ${d.seq}: ssrc ${d.d.ssrc} is no known participant`);
        senders.set(d, m);
        break;
      }
    }
  }
  return senders;
}
