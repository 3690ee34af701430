import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The gateway's Prometheus metrics, on a registry of its own (several gateways can share a
 * process in tests). Served at `/metrics`.
 */
export class GatewayMetrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  /** Open WebSocket connections. */
  readonly connections = new Gauge({
    name: 'concord_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  /** Live sessions (connected or waiting to resume). */
  readonly sessions = new Gauge({
    name: 'concord_sessions',
    help: 'Sessions, connected or resumable',
    registers: [this.registry],
  });
  /** Messages received, by opcode name. */
  readonly messagesIn = new Counter({
    name: 'concord_messages_in_total',
    help: 'Control messages received',
    labelNames: ['type'],
    registers: [this.registry],
  });
  /** Messages sent, by opcode or event name. */
  readonly messagesOut = new Counter({
    name: 'concord_messages_out_total',
    help: 'Control messages sent',
    labelNames: ['type'],
    registers: [this.registry],
  });
  /** Bytes received (WebSocket payloads). */
  readonly bytesIn = new Counter({
    name: 'concord_bytes_in_total',
    help: 'WebSocket payload bytes received',
    registers: [this.registry],
  });
  /** Bytes sent (WebSocket payloads). */
  readonly bytesOut = new Counter({
    name: 'concord_bytes_out_total',
    help: 'WebSocket payload bytes sent',
    registers: [this.registry],
  });
  /** Frames sent. */
  readonly framesOut = new Counter({
    name: 'concord_frames_out_total',
    help: 'WebSocket frames sent',
    registers: [this.registry],
  });
  /** Heartbeat round trip (WebSocket ping→pong after each heartbeat), seconds. */
  readonly heartbeatRtt = new Histogram({
    name: 'concord_heartbeat_rtt_seconds',
    help: 'Round trip of a WebSocket ping sent on each heartbeat',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Time from an event entering a session's queue to its frame being written, seconds. */
  readonly fanoutLatency = new Histogram({
    name: 'concord_fanout_latency_seconds',
    help: 'Queueing delay of dispatches before their frame is written',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  /** Resume attempts by outcome (`resumed`, `invalid`). */
  readonly resumes = new Counter({
    name: 'concord_resumes_total',
    help: 'Resume attempts',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  /** Connections the server closed, by close code name. */
  readonly rejections = new Counter({
    name: 'concord_rejections_total',
    help: 'Connections closed by the server, by close code',
    labelNames: ['code'],
    registers: [this.registry],
  });

  private readonly inByType = new Map<string, Counter.Internal>();
  private readonly outByType = new Map<string, Counter.Internal>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one received message of `type` (label children cached: this runs per message). */
  countIn(type: string): void {
    let c = this.inByType.get(type);
    if (!c) this.inByType.set(type, (c = this.messagesIn.labels(type)));
    c.inc();
  }

  /** Counts one sent message of `type`. */
  countOut(type: string): void {
    let c = this.outByType.get(type);
    if (!c) this.outByType.set(type, (c = this.messagesOut.labels(type)));
    c.inc();
  }
}
