// A UDP impairment proxy for WebRTC tests (Node): netem's loss and jitter without root or a
// kernel that has netem. It listens on `listenHost` at each port of a range and forwards every
// datagram to `targetHost` at the same port, and the answers back, dropping and delaying them as
// told. Put it in front of an SFU whose ICE candidates announce `listenHost` (mediasoup:
// `announcedIp`), and every RTP, RTCP, STUN and DTLS packet of the call passes through it.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { rng } from './signals.js';

/** What the proxy does to the datagrams it forwards, each direction on its own. */
export interface UdpImpairment {
  /** Share of datagrams dropped, 0–100 (%). Default 0. */
  lossPct?: number;
  /**
   * Delay jitter in ms, as netem's `delay <delayMs> <jitterMs>`: each datagram is held
   * `delayMs ± jitterMs` (uniform, never below 0), so datagrams reorder. Default 0.
   */
  jitterMs?: number;
  /** Fixed delay in ms added to every datagram. Default 0. */
  delayMs?: number;
  /** Drops everything (a network that stopped answering). Default false. */
  blackhole?: boolean;
  /** Seed of the loss and jitter draws, for repeatable runs. Default 1. */
  seed?: number;
}

/** Where the proxy listens and forwards. */
export interface UdpImpairmentProxyOptions {
  /** Address the proxy listens on: the one the SFU announces. */
  listenHost: string;
  /** Address the SFU listens on. */
  targetHost: string;
  /** First and last port (inclusive) of the SFU's range; the proxy takes the same ports. */
  ports: { min: number; max: number };
  /**
   * Most client flows (client address × port) at once; a new one replaces a flow idle ≥ 30 s,
   * else its datagrams are dropped. Default 256.
   */
  maxFlows?: number;
  /** Most datagrams held for delay at once; later ones are dropped. Default 10,000. */
  maxHeld?: number;
}

/** Counters since start (both directions). */
export interface UdpImpairmentStats {
  forwarded: number;
  dropped: number;
  /** Datagrams dropped because `maxHeld` or `maxFlows` was reached (not impairment). */
  overflow: number;
  flows: number;
}

const MAX_PORTS = 1_000;

interface Flow {
  upstream: Socket;
  lastSeenMs: number;
}

/**
 * The proxy. Runs on the Node main thread; datagrams held for delay are bounded by `maxHeld`,
 * flows by `maxFlows`.
 */
export class UdpImpairmentProxy {
  private readonly fronts: Socket[] = [];
  private readonly flows = new Map<string, Flow>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private impairment: Required<UdpImpairment> = {
    lossPct: 0,
    jitterMs: 0,
    delayMs: 0,
    blackhole: false,
    seed: 1,
  };
  private random = rng(1);
  private closed = false;
  private readonly counters: UdpImpairmentStats = {
    forwarded: 0,
    dropped: 0,
    overflow: 0,
    flows: 0,
  };

  private constructor(private readonly options: Required<UdpImpairmentProxyOptions>) {}

  /** Binds every port of the range on `listenHost`; rejects (and releases all) if one fails. */
  static async start(options: UdpImpairmentProxyOptions): Promise<UdpImpairmentProxy> {
    const { min, max } = options.ports;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65_535 || max < min)
      throw new RangeError(`ports must be 1 ≤ min ≤ max ≤ 65535, got ${min}–${max}`);
    if (max - min + 1 > MAX_PORTS)
      throw new RangeError(`at most ${MAX_PORTS} ports, got ${max - min + 1}`);
    const proxy = new UdpImpairmentProxy({ maxFlows: 256, maxHeld: 10_000, ...options });
    try {
      for (let port = min; port <= max; port++) await proxy.bindFront(port);
    } catch (err) {
      await proxy.close();
      throw err;
    }
    return proxy;
  }

  /** Sets the impairment from now on; `undefined` forwards everything untouched. */
  impair(impairment: UdpImpairment | undefined): void {
    const next = { lossPct: 0, jitterMs: 0, delayMs: 0, blackhole: false, seed: 1, ...impairment };
    if (!(next.lossPct >= 0 && next.lossPct <= 100))
      throw new RangeError(`lossPct must be 0–100, got ${next.lossPct}`);
    if (!(next.jitterMs >= 0) || !(next.delayMs >= 0))
      throw new RangeError('delayMs and jitterMs must be ≥ 0');
    this.impairment = next;
    this.random = rng(next.seed);
  }

  /** Counters since start. */
  get stats(): UdpImpairmentStats {
    return { ...this.counters, flows: this.flows.size };
  }

  /** Closes every socket and drops held datagrams. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const all = [...this.fronts, ...[...this.flows.values()].map((f) => f.upstream)];
    this.flows.clear();
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private bindFront(port: number): Promise<void> {
    const front = createSocket('udp4');
    this.fronts.push(front);
    front.on('message', (msg, from) => this.fromClient(front, port, msg, from));
    front.on('error', () => undefined); // ICMP unreachable and the like: UDP carries on
    return new Promise((resolve, reject) => {
      front.once('error', reject);
      front.bind(port, this.options.listenHost, () => {
        front.off('error', reject);
        resolve();
      });
    });
  }

  private fromClient(front: Socket, port: number, msg: Buffer, from: RemoteInfo): void {
    const key = `${port}|${from.address}|${from.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.flows.size >= this.options.maxFlows && !this.evictIdleFlow()) {
        this.counters.overflow++;
        return;
      }
      const upstream = createSocket('udp4');
      upstream.on('error', () => undefined);
      upstream.on('message', (reply) =>
        this.pass(() => front.send(reply, from.port, from.address)),
      );
      upstream.bind(0, this.options.targetHost);
      flow = { upstream, lastSeenMs: Date.now() };
      this.flows.set(key, flow);
    }
    flow.lastSeenMs = Date.now();
    const upstream = flow.upstream;
    this.pass(() => upstream.send(msg, port, this.options.targetHost));
  }

  /** Frees the flow idle longest if it has been idle ≥ 30 s; whether one was freed. */
  private evictIdleFlow(): boolean {
    let oldest: [string, Flow] | undefined;
    for (const e of this.flows) if (!oldest || e[1].lastSeenMs < oldest[1].lastSeenMs) oldest = e;
    if (!oldest || Date.now() - oldest[1].lastSeenMs < 30_000) return false;
    this.flows.delete(oldest[0]);
    oldest[1].upstream.close();
    return true;
  }

  /** Drops, delays or forwards one datagram (`send` sends it). */
  private pass(send: () => void): void {
    if (this.closed) return;
    const { lossPct, jitterMs, delayMs, blackhole } = this.impairment;
    if (blackhole || (lossPct > 0 && this.random() * 100 < lossPct)) {
      this.counters.dropped++;
      return;
    }
    const wait = Math.max(0, delayMs + (jitterMs > 0 ? (this.random() * 2 - 1) * jitterMs : 0));
    if (wait === 0) {
      this.counters.forwarded++;
      send();
      return;
    }
    if (this.timers.size >= this.options.maxHeld) {
      this.counters.overflow++;
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.closed) return;
      this.counters.forwarded++;
      send();
    }, wait);
    this.timers.add(t);
  }
}
