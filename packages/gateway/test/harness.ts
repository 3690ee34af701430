// Test/bench harness: start the real gateway CLI as a child process, and a raw protocol client
// (no SDK) that can send anything, including garbage. Node only.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  FrameCodec,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
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
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** A raw protocol client: records every server message and the close code. */
export class RawClient {
  readonly codec = new FrameCodec();
  readonly received: ServerMessage[] = [];
  closeCode: number | undefined;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      for (const m of this.codec.decodeServerFrame(new Uint8Array(data))) this.received.push(m);
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
  }

  /** Opens a socket (optionally from a given local address, e.g. 127.0.0.2). */
  static async connect(url: string, localAddress?: string): Promise<RawClient> {
    const ws = new WebSocket(url, localAddress ? { localAddress } : {});
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Identifies with `token` and waits for READY. */
  static async identified(url: string, token: string): Promise<RawClient> {
    const c = await RawClient.connect(url);
    await c.waitFor((m) => m.op === Op.Hello);
    c.send({
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token,
        capabilities: { transports: ['ws'], codecs: ['opus'], client: 'raw-test' },
      },
    });
    await c.waitFor((m) => m.op === Op.Ready);
    return c;
  }

  send(messages: ClientMessage | ClientMessage[]): void {
    this.ws.send(this.codec.encode(messages));
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

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
