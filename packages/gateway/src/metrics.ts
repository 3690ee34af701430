import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Sfu } from './sfu/index.js';

/** Why a media frame was not forwarded (label of `concord_media_frames_dropped_total`). */
export type MediaDropReason =
  | 'rate_limited'
  | 'slow_consumer'
  | 'not_selected'
  | 'sender_muted'
  | 'stale_ssrc'
  | 'not_ready'
  | 'impairment'
  | 'bridge';

/** Media counts accumulated between scrapes. */
export class MediaCounters {
  framesIn = 0;
  framesForwarded = 0;
  bytesForwarded = 0;
  readonly dropped: Record<MediaDropReason, number> = {
    rate_limited: 0,
    slow_consumer: 0,
    not_selected: 0,
    sender_muted: 0,
    stale_ssrc: 0,
    not_ready: 0,
    impairment: 0,
    bridge: 0,
  };
}

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
    collect: () => this.flushMedia(),
  });
  /** Frames sent. */
  readonly framesOut = new Counter({
    name: 'concord_frames_out_total',
    help: 'WebSocket frames sent',
    registers: [this.registry],
    collect: () => this.flushMedia(),
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
  /**
   * Time from a room event's publish (on any node) to its delivery on this node, seconds: in a
   * cluster, the trip through Redis; p99 for autoscalers.
   */
  readonly eventLatency = new Histogram({
    name: 'concord_room_event_latency_seconds',
    help: 'Time from a room event being published (any node) to its delivery on this node',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
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
  /** Connections closed as slow consumers, by the bound they passed (`bytes`, `age`, `unread`). */
  readonly slowConsumers = new Counter({
    name: 'concord_slow_consumers_total',
    help: 'Connections closed because they did not read what was sent (SLOW_CONSUMER)',
    labelNames: ['bound'],
    registers: [this.registry],
  });
  /** WebSocket upgrades refused before the handshake, by reason. */
  readonly upgradesRefused = new Counter({
    name: 'concord_upgrades_refused_total',
    help: 'WebSocket upgrades refused before the handshake, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  /** Room memberships whose media goes over WebRTC (the SFU). */
  readonly webrtcMembers = new Gauge({
    name: 'concord_webrtc_members',
    help: 'Room memberships on the WebRTC media path',
    registers: [this.registry],
  });
  /** mediasoup worker processes that died (each is restarted). */
  readonly sfuWorkerDeaths = new Counter({
    name: 'concord_sfu_worker_deaths_total',
    help: 'mediasoup workers that died (each is restarted, its rooms rebuilt)',
    registers: [this.registry],
  });
  /** WebRTC memberships told to set up again after their worker died. */
  readonly sfuMemberResets = new Counter({
    name: 'concord_sfu_member_resets_total',
    help: 'WebRTC memberships reset (WEBRTC_RESET) after a worker restart',
    registers: [this.registry],
  });
  /** Media frames received (valid or not). */
  readonly mediaFramesIn = new Counter({
    name: 'concord_media_frames_in_total',
    help: 'Media frames received',
    registers: [this.registry],
    collect: () => this.flushMedia(),
  });
  /** Media frames written to listeners' sockets (one per listener). */
  readonly mediaFramesForwarded = new Counter({
    name: 'concord_media_frames_forwarded_total',
    help: 'Media frames forwarded, counted once per listener',
    registers: [this.registry],
    collect: () => this.flushMedia(),
  });
  /** Media bytes written to listeners' sockets. */
  readonly mediaBytesForwarded = new Counter({
    name: 'concord_media_bytes_forwarded_total',
    help: 'Media frame bytes forwarded, counted once per listener',
    registers: [this.registry],
    collect: () => this.flushMedia(),
  });
  /**
   * Media frames not forwarded, by reason: `rate_limited` (sender over its frame rate),
   * `slow_consumer` (a listener's socket buffer over the limit; counted per listener),
   * `not_selected` (not among the room's loudest speakers), `sender_muted`, `stale_ssrc` (a
   * stream the session just left), `not_ready` (sent while a RESUME/IDENTIFY is in flight),
   * `impairment` (dropped on purpose by the test-only impairment layer), `bridge` (not fed to
   * the SFU: the sender's bridge producer was not ready).
   */
  readonly mediaFramesDropped = new Counter({
    name: 'concord_media_frames_dropped_total',
    help: 'Media frames not forwarded, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
    collect: () => this.flushMedia(),
  });
  /** Time to relay one received media frame to every listener, seconds (1 frame in 16). */
  readonly mediaRelaySeconds = new Histogram({
    name: 'concord_media_relay_seconds',
    help: 'Time to validate and forward one media frame to its listeners (sampled 1 in 16)',
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005],
    registers: [this.registry],
  });

  /**
   * Per-frame media counts, bumped as plain numbers on the relay's hot path and folded into
   * the Prometheus counters above whenever they are read (scrape or `get()`).
   */
  /** Sessions this node took over from another node (resumes after a drain or failover). */
  readonly clusterMigrations = new Counter({
    name: 'concord_cluster_migrations_total',
    help: 'Sessions taken over from another cluster node',
    registers: [this.registry],
  });
  readonly media = new MediaCounters();
  private readonly inByType = new Map<string, Counter.Internal>();
  private readonly outByType = new Map<string, Counter.Internal>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Exports the SFU's own counters (worker restarts, rooms rebuilt, bridge frames, selection
   * changes) as gauges read at scrape time.
   */
  /**
   * Reports the cluster layer's gauges at each scrape: rooms with members here, live nodes,
   * rooms whose media goes up to another home, open media links, Redis reachability.
   */
  watchCluster(
    read: () => {
      rooms: number;
      nodes: number;
      upstreamRooms: number;
      links: number;
      redisUp: number;
    },
  ): void {
    const gauge = (name: string, help: string, pick: (v: ReturnType<typeof read>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(pick(read()));
        },
      });
    gauge('concord_cluster_rooms', 'Rooms with members on this node', (v) => v.rooms);
    gauge('concord_cluster_nodes', 'Live cluster nodes (this one included)', (v) => v.nodes);
    gauge(
      'concord_cluster_upstream_rooms',
      "Rooms whose media goes to another node (the room's home)",
      (v) => v.upstreamRooms,
    );
    gauge('concord_cluster_media_links', 'Open node-to-node media links', (v) => v.links);
    gauge('concord_cluster_redis_up', 'Whether Redis answers (1) or not (0)', (v) => v.redisUp);
  }

  observeSfu(sfu: Sfu): void {
    const counters: Array<[keyof Sfu['counters'], string, string]> = [
      [
        'workerRestarts',
        'concord_sfu_worker_restarts',
        'mediasoup workers started to replace dead ones',
      ],
      ['roomsRebuilt', 'concord_sfu_rooms_rebuilt', 'SFU rooms rebuilt after their worker died'],
      ['bridgeFramesIn', 'concord_sfu_bridge_frames_in', 'WebSocket frames fed to the SFU as RTP'],
      [
        'bridgeFramesOut',
        'concord_sfu_bridge_frames_out',
        'RTP packets of WebRTC producers turned into frames for the WebSocket path',
      ],
      [
        'bridgeFramesDropped',
        'concord_sfu_bridge_frames_dropped',
        'WebSocket frames the bridge dropped',
      ],
      [
        'selectionChanges',
        'concord_sfu_selection_changes',
        'consumer pauses and resumes by top-N selection',
      ],
    ];
    for (const [key, name, help] of counters)
      new Gauge({
        name,
        help: `${help} (since start)`,
        registers: [this.registry],
        collect() {
          this.set(sfu.counters[key]);
        },
      });
    // What lives in the workers now: a count that only grows over joins and leaves is a leak.
    const objects: Array<[keyof Sfu['objectCounts'], string]> = [
      ['rooms', 'SFU rooms (a mediasoup router each)'],
      ['transports', 'WebRTC transports (two per WebRTC member)'],
      ['producers', 'audio producers'],
      ['consumers', 'audio consumers'],
    ];
    for (const [key, help] of objects)
      new Gauge({
        name: `concord_sfu_${key}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(sfu.objectCounts[key]);
        },
      });
  }

  /** Counts one received message of `type` (label children cached: this runs per message). */
  countIn(type: string): void {
    let c = this.inByType.get(type);
    if (!c) this.inByType.set(type, (c = this.messagesIn.labels(type)));
    c.inc();
  }

  /** Counts `n` media frames not forwarded for `reason` (no label lookup: per-frame path). */
  countMediaDrop(reason: MediaDropReason, n = 1): void {
    this.media.dropped[reason] += n;
  }

  private flushMedia(): void {
    const m = this.media;
    if (m.framesIn > 0) this.mediaFramesIn.inc(m.framesIn);
    if (m.framesForwarded > 0) {
      this.mediaFramesForwarded.inc(m.framesForwarded);
      this.framesOut.inc(m.framesForwarded);
    }
    if (m.bytesForwarded > 0) {
      this.mediaBytesForwarded.inc(m.bytesForwarded);
      this.bytesOut.inc(m.bytesForwarded);
    }
    m.framesIn = m.framesForwarded = m.bytesForwarded = 0;
    for (const reason of Object.keys(m.dropped) as MediaDropReason[]) {
      if (m.dropped[reason] > 0) this.mediaFramesDropped.inc({ reason }, m.dropped[reason]);
      m.dropped[reason] = 0;
    }
  }

  /** Counts one sent message of `type`. */
  countOut(type: string): void {
    let c = this.outByType.get(type);
    if (!c) this.outByType.set(type, (c = this.messagesOut.labels(type)));
    c.inc();
  }
}
