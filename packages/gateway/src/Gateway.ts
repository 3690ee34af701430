import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CloseCode, FrameCodec } from '@concord/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  DEV_TOKEN_CLAIM,
  isDevToken,
  mintToken,
  parseDevToken,
  roomAllowed,
  verifyToken,
  type TokenGrant,
} from './auth/tokens.js';
import { isLoopbackHost, resolveConfig, wsMaxPayload, type GatewayConfig } from './config.js';
import { GatewayCluster } from './cluster/GatewayCluster.js';
import { LINK_PATH } from './cluster/MediaLinks.js';
import { Connection } from './Connection.js';
import { GatewayError } from './errors.js';
import type { GatewayContext } from './GatewayContext.js';
import { ClientAddress } from './http/ClientAddress.js';
import { ISOLATION_HEADERS, StaticFiles } from './http/staticFiles.js';
import { UpgradeGuard } from './http/UpgradeGuard.js';
import { createLogger, type Logger } from './logger.js';
import { MediaImpairment } from './MediaImpairment.js';
import { MediaRelay } from './MediaRelay.js';
import { MediaRouter } from './MediaRouter.js';
import { GatewayMetrics } from './metrics.js';
import { RoomService } from './RoomService.js';
import { Session } from './Session.js';
import { loadMediasoup, mediasoupWorkerStatus, Sfu, SfuError } from './sfu/index.js';
import { MemoryStateStore } from './state/MemoryStateStore.js';
import { MemoryRoomBus, type RoomBus } from './state/RoomBus.js';
import type { StateStore } from './state/StateStore.js';

/** Optional collaborators of a {@link Gateway}; in-memory defaults. */
export interface GatewayDeps {
  store?: StateStore;
  bus?: RoomBus;
  logger?: Logger;
  metrics?: GatewayMetrics;
}

/** Lifecycle of a gateway. */
export type GatewayStatus = 'idle' | 'listening' | 'draining' | 'closed';

/** Lifetime of tokens minted by `/dev/token`, in s (clients refresh them through the same route). */
const DEV_TOKEN_TTL_SEC = 3600;
/** Header a `/test/*` request must carry: a cross-site form or image cannot set it. */
export const TEST_HEADER = 'x-concord-test';

/**
 * The Concord reference gateway: HTTP (`/healthz`, `/metrics`, static files, dev tokens) and
 * the WebSocket gateway on one port. Main thread of a Node process.
 */
export class Gateway implements GatewayContext {
  readonly config: GatewayConfig;
  readonly codec: FrameCodec;
  readonly clientCodec: FrameCodec;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly rooms: RoomService;
  readonly relay: MediaRelay;
  readonly media: MediaRouter;
  readonly sessions = new Map<string, Session>();
  /** A user's sessions: the session itself while there is one (most users), a Set beyond. */
  private readonly sessionsByUser = new Map<string, Session | Set<Session>>();
  private readonly store: StateStore;
  private readonly bus: RoomBus;
  /** The cluster layer with `--redis` (undefined: one process, in-memory state). */
  readonly cluster: GatewayCluster | undefined;
  /**
   * Called when an admin asks for a drain (`POST /admin/drain`); the CLI drains and exits.
   * Unset: the gateway closes itself.
   */
  onDrainRequest: (() => void) | undefined;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly guard: UpgradeGuard;
  private readonly addresses: ClientAddress;
  private readonly statics: StaticFiles;
  /**
   * Key of the tokens `/dev/token` mints: derived from the secret (so every node of a dev
   * cluster shares it) or random per process. Tokens signed with it verify only in dev mode.
   */
  private readonly devKey: Uint8Array;
  /**
   * Key of the resume secrets: HMAC(key, session id), so nothing is stored per session; derived
   * from the token secret (every node of a cluster agrees) or random per process.
   */
  private readonly resumeKey: Buffer;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private sfuTimer: ReturnType<typeof setTimeout> | undefined;
  private _status: GatewayStatus = 'idle';

  /** @throws {GatewayError} `CONCORD_ERR_CONFIG` for invalid settings. */
  constructor(config: Partial<GatewayConfig> = {}, deps: GatewayDeps = {}) {
    this.config = resolveConfig(config);
    this.logger = deps.logger ?? createLogger(this.config.logLevel);
    this.metrics = deps.metrics ?? new GatewayMetrics();
    this.codec = new FrameCodec({
      limits: this.config.limits,
      compressionThresholdBytes: this.config.compressionThresholdBytes,
    });
    if (this.config.redis !== undefined && deps.store === undefined && deps.bus === undefined) {
      this.cluster = new GatewayCluster({
        redisUrl: this.config.redis,
        ...(this.config.nodeId !== undefined ? { nodeId: this.config.nodeId } : {}),
        codec: this.codec,
        secret: this.config.secret!,
        orphanGraceMs: this.config.resumeWindowMs,
        nodeTtlMs: this.config.clusterNodeTtlMs,
        maxMembersPerRoom: this.config.maxParticipantsPerRoom,
        logger: this.logger.child({ component: 'cluster' }),
      });
    }
    this.store = deps.store ?? this.cluster?.store ?? new MemoryStateStore();
    this.bus = deps.bus ?? this.cluster?.bus ?? new MemoryRoomBus();
    this.clientCodec = new FrameCodec({
      limits: this.config.clientLimits,
      compressionThresholdBytes: 0,
      acceptCompressed: false,
    });
    this.devKey = this.config.secret
      ? createHmac('sha256', this.config.secret).update('concord dev tokens v1').digest()
      : randomBytes(32);
    this.resumeKey = this.config.secret
      ? createHmac('sha256', this.config.secret).update('concord resume secrets v1').digest()
      : randomBytes(32);
    this.relay = new MediaRelay(this.config, this.metrics);
    this.media = new MediaRouter(this.relay, this.logger, this.metrics);
    this.rooms = new RoomService(
      this.store,
      this.bus,
      this.codec,
      this.config,
      (id) => this.sessions.get(id),
      this.logger,
      this.media,
    );
    this.media.host = this.rooms;
    this.rooms.onEventLatency = (ms) => this.metrics.eventLatency.observe(Math.max(0, ms) / 1000);
    if (this.cluster) this.wireCluster(this.cluster);
    this.addresses = new ClientAddress(this.config.trustedProxies);
    this.guard = new UpgradeGuard(this.config, this.metrics);
    this.statics = new StaticFiles(this.config.staticMounts);
    // Node checks the header/request timeouts only every `connectionsCheckingInterval`
    // (30 s by default): check often enough for the timeouts to mean what they say.
    const checkMs = Math.max(
      100,
      Math.min(1_000, this.config.httpHeadersTimeoutMs / 2, this.config.httpRequestTimeoutMs / 2),
    );
    this.http = createServer({ connectionsCheckingInterval: checkMs }, (req, res) => {
      this.onHttp(req, res).catch((err: unknown) => {
        this.logger.error({ err }, 'http handler failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    // Slowloris and idle keep-alive bounds (Node's defaults are minutes).
    this.http.headersTimeout = this.config.httpHeadersTimeoutMs;
    this.http.requestTimeout = this.config.httpRequestTimeoutMs;
    this.http.keepAliveTimeout = this.config.httpKeepAliveTimeoutMs;
    this.http.maxHeadersCount = 64;
    // `ws` closes with 1009 above this; between the client frame limit and it, the gateway
    // answers FRAME_TOO_LARGE (4010) itself.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: wsMaxPayload(this.config),
      perMessageDeflate: false,
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
  }

  /** Current lifecycle status. */
  get status(): GatewayStatus {
    return this._status;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Starts listening; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    if (this._status !== 'idle')
      throw new GatewayError(
        'CONCORD_ERR_CONFIG',
        CloseCode.UNKNOWN_ERROR,
        `cannot listen while ${this._status}`,
      );
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.config.port, this.config.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const bound = this.http.address() as AddressInfo;
    if (this.cluster) {
      const host =
        this.config.advertiseHost ??
        (bound.address === '0.0.0.0' || bound.address === '::' ? '127.0.0.1' : bound.address);
      const h = host.includes(':') ? `[${host}]` : host;
      try {
        await this.cluster.start(`ws://${h}:${bound.port}${this.config.path}`, {
          hasLocalMembers: (room) => this.relay.room(room) !== undefined,
          deliverLocal: (room, frame) => this.relay.deliverFromPeer(room, frame),
        });
      } catch (err) {
        this.http.close();
        await this.cluster.close();
        throw err;
      }
    }
    this._status = 'listening';
    // Cluster rooms use the WebSocket media path (their SFU is future work: see the README).
    if (this.cluster) this.logger.info({ node: this.cluster.nodeId }, 'cluster node ready');
    else if (this.config.webrtc === 'on') await this.startSfu();
    else if (this.config.webrtc === 'auto') this.startSfuWhenReady();
    const { heartbeatIntervalMs, identifyTimeoutMs, maxOutboundAgeMs } = this.config;
    const sweepMs = Math.max(
      20,
      Math.min(1000, Math.min(heartbeatIntervalMs, identifyTimeoutMs, maxOutboundAgeMs) / 4),
    );
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
    const address = this.http.address() as AddressInfo;
    if (this.config.insecureDevAuth)
      this.logger.warn(
        { host: address.address },
        'insecure dev auth is ON: dev tokens are accepted and /dev/token mints tokens for anyone on this machine',
      );
    this.logger.info(
      { host: address.address, port: address.port, path: this.config.path },
      'gateway listening',
    );
    return address;
  }

  /**
   * Graceful shutdown: stop accepting, send RECONNECT to every client and close them with
   * SERVER_DRAINING, wait up to `drainTimeoutMs` for sockets to close, then close the rest and
   * end every session (its members leave their rooms in the state store). Idempotent.
   */
  async close(): Promise<void> {
    if (this._status === 'closed' || this._status === 'draining') return;
    const wasListening = this._status === 'listening';
    this._status = 'draining';
    this.logger.info({ connections: this.connections.size }, 'draining');
    // Cluster: rooms move to their next node first, so clients resume into rooms that are
    // already there. The HTTP server keeps listening until the clients have left (links).
    if (this.cluster && wasListening) await this.cluster.drain([...this.rooms.localRooms]);
    for (const c of this.connections) c.drain('server shutting down');
    const httpClosed = wasListening
      ? new Promise<void>((r) => this.http.close(() => r()))
      : Promise.resolve();
    const deadline = Date.now() + this.config.drainTimeoutMs;
    while (this.connections.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.sfuTimer) clearTimeout(this.sfuTimer);
    for (const ws of this.wss.clients) ws.terminate();
    this.http.closeAllConnections();
    await httpClosed;
    // Cluster: sessions not resumed elsewhere yet stay in Redis; once this node's registry
    // entry is gone other nodes orphan them (resumable for the resume window), then reap them.
    if (this.cluster) {
      for (const s of [...this.sessions.values()]) {
        s.ended = true;
        if (s.expiryTimer) clearTimeout(s.expiryTimer);
      }
      this.sessions.clear();
      this.wss.close();
      await this.cluster.close();
      this._status = 'closed';
      this.logger.info('gateway closed');
      return;
    }
    // No ghosts: with a shared store other nodes would otherwise keep showing these members.
    for (const s of [...this.sessions.values()]) {
      try {
        await this.endSession(s);
      } catch (err) {
        this.logger.error({ err, userId: s.userId }, 'ending a session on shutdown failed');
      }
    }
    this.sessions.clear();
    this.media.sfuInstance?.close();
    this.wss.close();
    await this.bus.close();
    await this.store.close();
    this._status = 'closed';
    this.logger.info('gateway closed');
  }

  // ---- GatewayContext ----

  async authenticate(token: string): Promise<TokenGrant> {
    const { config } = this;
    if (config.insecureDevAuth) {
      const dev = parseDevToken(token);
      if (dev) return dev;
      if (isDevToken(token)) return verifyToken(this.devKey, token);
    }
    if (config.secret === undefined) throw GatewayError.authFailed('only dev tokens are accepted');
    return verifyToken(config.secret, token, {
      issuer: config.tokenIssuer,
      audience: config.tokenAudience,
      clockToleranceSec: config.tokenClockToleranceSec,
      maxLifetimeSec: config.tokenMaxLifetimeSec,
    });
  }

  resumeSecretOf(sessionId: string): string {
    // 144 bits of HMAC-SHA256, base64url: 24 characters.
    return createHmac('sha256', this.resumeKey)
      .update(sessionId)
      .digest()
      .subarray(0, 18)
      .toString('base64url');
  }

  roomAllowed(session: Session, room: string): boolean {
    return roomAllowed({ rooms: session.record.allowedRooms }, room);
  }

  async createSession(grant: TokenGrant): Promise<Session> {
    const mine = this.sessionsByUser.get(grant.userId);
    const held = mine === undefined ? 0 : mine instanceof Session ? 1 : mine.size;
    if (held >= this.config.maxSessionsPerUser)
      throw GatewayError.tooManySessions(this.config.maxSessionsPerUser);
    const record = {
      sessionId: randomBytes(16).toString('base64url'),
      userId: grant.userId,
      name: grant.name,
      allowedRooms: grant.rooms,
      expiresAt: grant.expiresAt,
    };
    const replay = this.store.replayBuffer(record.sessionId, {
      maxEvents: this.config.replayMaxEvents,
      maxBytes: this.config.replayMaxBytes,
    });
    const session = new Session(record, replay, this.codec);
    // Counted before the store await, so parallel IDENTIFYs cannot pass the cap together.
    this.sessions.set(session.id, session);
    if (mine === undefined) this.sessionsByUser.set(grant.userId, session);
    else if (mine instanceof Session)
      this.sessionsByUser.set(grant.userId, new Set([mine, session]));
    else mine.add(session);
    this.metrics.sessions.set(this.sessions.size);
    try {
      await this.store.putSession(record);
    } catch (err) {
      this.forget(session);
      throw err;
    }
    return session;
  }

  async endSession(session: Session): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    try {
      await this.rooms.leaveAll(session);
      await this.store.deleteSession(session.id);
    } finally {
      this.forget(session);
      this.logger.debug({ userId: session.userId }, 'session ended');
    }
  }

  async claimSession(
    sessionId: string,
    grant: TokenGrant,
    resumeSecret: string,
  ): Promise<Session | undefined> {
    const cluster = this.cluster;
    if (!cluster) return undefined;
    // The secret first: knowing a session id must not be enough to move a session here.
    const wanted = Buffer.from(this.resumeSecretOf(sessionId));
    const given = Buffer.from(resumeSecret);
    if (wanted.length !== given.length || !timingSafeEqual(wanted, given)) return undefined;
    const claimed = await cluster.store.claimSession(sessionId, {
      maxEvents: this.config.replayMaxEvents,
      maxBytes: this.config.replayMaxBytes,
    });
    if (!claimed || claimed.record.userId !== grant.userId) return undefined;
    const existing = this.sessions.get(sessionId);
    if (existing) return existing; // a concurrent resume got here first
    const session = new Session(claimed.record, claimed.replay, this.codec, claimed.lastSeq);
    this.sessions.set(session.id, session);
    const mine = this.sessionsByUser.get(session.userId);
    if (mine === undefined) this.sessionsByUser.set(session.userId, session);
    else if (mine instanceof Session)
      this.sessionsByUser.set(session.userId, new Set([mine, session]));
    else mine.add(session);
    this.metrics.sessions.set(this.sessions.size);
    // Media flows as soon as RESUMED is sent; the room events it missed follow it (the bus
    // subscribes and catches up meanwhile: a Redis round trip or three saved per resume).
    for (const { room, member, cursor } of claimed.rooms) {
      this.rooms.adoptMembership(session, room, member.ssrc, cursor).catch((err: unknown) => {
        this.logger.warn({ err, room, userId: session.userId }, 'room catch-up failed');
        const c = session.connection;
        if (c instanceof Connection) c.close(CloseCode.SESSION_TIMED_OUT, 'room catch-up failed');
      });
      this.media.setVoiceState(session, room, member);
    }
    cluster.migrations++;
    this.metrics.clusterMigrations.inc();
    this.logger.info(
      { userId: session.userId, from: claimed.previousNode, rooms: claimed.rooms.length },
      'session taken over from another node',
    );
    return session;
  }

  scheduleExpiry(session: Session): void {
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(() => {
      this.endSession(session).catch((err: unknown) =>
        this.logger.error({ err, userId: session.userId }, 'ending an expired session failed'),
      );
    }, this.config.resumeWindowMs);
    session.expiryTimer.unref?.();
  }

  onConnectionClosed(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    this.metrics.connections.set(this.connections.size);
    this.guard.release(connection.ip);
  }

  // ---- internals ----

  // The SFU: mediasoup loaded (a user-installed release, or the project's own 3.8.4 build),
  // a worker per core (or --webrtc-workers), transports on --webrtc-listen-ip.
  private async startSfu(): Promise<void> {
    const { config } = this;
    const mediasoup = loadMediasoup();
    const sfu = await Sfu.create({
      mediasoup,
      logger: this.logger.child({ component: 'sfu' }),
      listenIp: config.webrtcListenIp,
      ...(config.webrtcAnnouncedIp ? { announcedIp: config.webrtcAnnouncedIp } : {}),
      portRange: { min: config.webrtcPortMin, max: config.webrtcPortMax },
      ...(config.webrtcWorkers > 0 ? { workerCount: config.webrtcWorkers } : {}),
      enableTcp: !config.webrtcUdpOnly,
      maxSpeakers: config.maxSpeakers,
    });
    if (this._status !== 'listening') {
      sfu.close();
      return;
    }
    this.media.attachSfu(sfu);
    this.logger.info(
      { mediasoup: `${mediasoup.version} (${mediasoup.source})`, workers: sfu.workerPids.length },
      'WebRTC SFU ready',
    );
  }

  // `auto`: the project's worker build may still be running (npm start builds it in the
  // background the first time): poll its status, start the SFU when it is there. Until then,
  // and if mediasoup cannot be had at all, rooms run on the WebSocket relay.
  private startSfuWhenReady(): void {
    let lastNote = 0;
    const attempt = (): void => {
      this.sfuTimer = undefined;
      if (this._status !== 'listening') return;
      const status = mediasoupWorkerStatus();
      // A mediasoup the user installed (current releases ship their worker) needs no build.
      let installed: boolean;
      try {
        installed = status.state !== 'ready' && loadMediasoup().source !== 'managed';
      } catch {
        installed = false;
      }
      if (status.state === 'ready' || installed) {
        this.startSfu().catch((err: unknown) =>
          this.logger.warn(
            { err: err instanceof SfuError ? err.message : err },
            'WebRTC unavailable: the SFU did not start; media stays on the WebSocket relay',
          ),
        );
        return;
      }
      if (status.state === 'building') {
        if (Date.now() - lastNote > 60_000) {
          lastNote = Date.now();
          this.logger.info(
            { done: status.done, total: status.total },
            'mediasoup worker still building: WebRTC once it is ready, the WebSocket path until then',
          );
        }
        this.sfuTimer = setTimeout(attempt, 3_000);
        this.sfuTimer.unref();
        return;
      }
      this.logger.info(
        { state: status.state },
        'WebRTC off: no mediasoup (run `npm run mediasoup` or install mediasoup); media on the WebSocket relay',
      );
    };
    attempt();
  }

  private wireCluster(cluster: GatewayCluster): void {
    this.relay.peerSink = (room, frame) => cluster.links?.fromLocal(room, frame);
    this.rooms.onLocalRoomChange = (room) => cluster.links?.refresh(room);
    cluster.onPlacementChange = () => {
      for (const room of this.rooms.localRooms) cluster.links?.refresh(room);
    };
    // Another node resumed the session (or this node was declared dead and it was reaped):
    // forget it here without leaving its rooms; its connection, if any, may resume.
    cluster.store.on('sessionLost', (sessionId, reason) => {
      const session = this.sessions.get(sessionId);
      if (!session) return;
      session.ended = true;
      if (session.expiryTimer) clearTimeout(session.expiryTimer);
      const c = session.connection;
      if (c instanceof Connection) c.close(CloseCode.SESSION_REPLACED, `session ${reason}`);
      this.rooms.dropLocal(session);
      cluster.store.dropLocal(sessionId);
      this.forget(session);
      this.logger.info({ userId: session.userId, reason }, 'session lost to the cluster');
    });
    cluster.store.on('membershipLost', (sessionId, room) => {
      const session = this.sessions.get(sessionId);
      if (!session) return;
      this.rooms.dropLocal(session, room);
      this.rooms.send(session, 'ROOM_LEFT', { req: 0, room, reason: 'replaced' });
    });
    cluster.store.on('rebuilt', (summary) =>
      this.logger.info({ ...summary }, 'cluster state rebuilt after Redis lost its data'),
    );
    this.metrics.watchCluster(() => ({
      rooms: this.rooms.localRoomCount,
      nodes: cluster.nodes.length,
      upstreamRooms: cluster.links?.upstreamRooms ?? 0,
      links: cluster.links?.linkCount ?? 0,
      redisUp: cluster.redisReady ? 1 : 0,
    }));
  }

  private forget(session: Session): void {
    this.sessions.delete(session.id);
    const mine = this.sessionsByUser.get(session.userId);
    if (mine === session) this.sessionsByUser.delete(session.userId);
    else if (mine instanceof Set) {
      mine.delete(session);
      if (mine.size === 1) this.sessionsByUser.set(session.userId, mine.values().next().value!);
    }
    this.metrics.sessions.set(this.sessions.size);
  }

  private sweep(): void {
    const now = performance.now();
    const wall = Date.now();
    for (const c of this.connections) c.sweep(now, wall);
    this.guard.sweep();
  }

  // Everything refused here is refused before the WebSocket handshake completes: no
  // Connection, no HELLO, no per-socket state.
  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', destroySocket);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === LINK_PATH && this.cluster?.links && this._status !== 'closed') {
      this.cluster.links.handleUpgrade(req, socket, head);
      return;
    }
    if (path !== this.config.path || this._status !== 'listening') {
      refuse(socket, 404, 'Not Found');
      return;
    }
    if (!this.hostAllowed(req)) {
      this.metrics.upgradesRefused.inc({ reason: 'host' });
      refuse(socket, 403, 'Forbidden');
      return;
    }
    if (!this.originAllowed(req)) {
      this.metrics.upgradesRefused.inc({ reason: 'origin' });
      this.logger.info({ origin: req.headers.origin }, 'upgrade refused: origin not allowed');
      refuse(socket, 403, 'Forbidden');
      return;
    }
    const ip = this.addresses.of(req);
    const verdict = this.guard.admit(ip, this.connections.size);
    if (verdict !== 'ok') {
      this.logger.info({ ip, reason: verdict }, 'upgrade refused');
      if (verdict === 'global') refuse(socket, 503, 'Service Unavailable');
      else refuse(socket, 429, 'Too Many Requests');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, ip));
  }

  private onConnection(ws: WebSocket, ip: string): void {
    const connection = new Connection(ws, ip, this);
    this.connections.add(connection);
    this.metrics.connections.set(this.connections.size);
  }

  // In dev mode the loopback address is the security boundary: a page from another site that
  // rebinds its DNS name to 127.0.0.1 reaches the port with its own name as Host. Refuse it.
  private hostAllowed(req: IncomingMessage): boolean {
    if (!this.config.insecureDevAuth || this.config.dangerouslyAllowDevAuthOnNetwork) return true;
    const host = req.headers.host;
    if (host === undefined) return true;
    return isLoopbackHost(hostname(host));
  }

  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    // Not a browser (a Node bot, a server): the Origin check protects browsers' users only.
    if (origin === undefined) return true;
    const allowed = this.config.allowedOrigins;
    if (allowed.includes('*') || allowed.includes(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.host === req.headers.host) return true; // our own pages
    return this.config.insecureDevAuth && isLoopbackHost(url.hostname);
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.hostAllowed(req)) {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('this dev gateway answers loopback host names only');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/healthz') {
      // Readiness for a load balancer: listening, not draining, and (cluster) Redis reachable.
      const cluster = this.cluster;
      const ok = this._status === 'listening' && (cluster === undefined || cluster.redisReady);
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', ...ISOLATION_HEADERS });
      res.end(
        JSON.stringify({
          status: this._status,
          connections: this.connections.size,
          sessions: this.sessions.size,
          ...(cluster
            ? {
                node: cluster.nodeId,
                redis: cluster.redisReady ? 'up' : 'down',
                nodes: cluster.nodes.length,
                rooms: this.rooms.localRoomCount,
              }
            : {}),
        }),
      );
      return;
    }
    if (url.pathname === '/metrics' || url.pathname === '/admin/drain') {
      const { metricsToken } = this.config;
      if (metricsToken !== undefined && !bearerMatches(req.headers.authorization, metricsToken)) {
        res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' });
        res.end('metrics need the bearer token');
        return;
      }
      if (url.pathname === '/admin/drain') {
        if (req.method !== 'POST') {
          res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'POST' });
          res.end('POST /admin/drain drains this node');
          return;
        }
        res.writeHead(202, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 'draining' }));
        this.logger.info('drain requested over HTTP');
        if (this.onDrainRequest) this.onDrainRequest();
        else this.close().catch((err: unknown) => this.logger.error({ err }, 'drain failed'));
        return;
      }
      res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
      res.end(await this.metrics.registry.metrics());
      return;
    }
    if (url.pathname.startsWith('/test/') && this.config.enableTestImpairment) {
      this.testEndpoint(req, url, res);
      return;
    }
    if (url.pathname === '/dev/token' && this.config.insecureDevAuth) {
      await this.devToken(req, url, res);
      return;
    }
    if ((await this.statics.serve(req, res)) === 'served') return;
    res.writeHead(404, { 'Content-Type': 'text/plain', ...ISOLATION_HEADERS });
    res.end('not found');
  }

  // Test-only: PUT sets seeded loss/jitter on forwarded media, DELETE clears it. Both need the
  // x-concord-test header, which a cross-site form, link or image cannot send.
  private testEndpoint(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...ISOLATION_HEADERS });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/test/placement' && this.cluster) {
      // Cluster tests: GET ?room= answers this node's home for the room; PUT ?hide=a,b hides
      // nodes from this node's placement (a partition), DELETE heals it.
      const method = req.method ?? 'GET';
      if (method !== 'GET' && req.headers[TEST_HEADER] !== '1')
        return reply(403, { error: 'the x-concord-test: 1 header is required' });
      if (method === 'PUT')
        this.cluster.setPartitionForTest((url.searchParams.get('hide') ?? '').split(','));
      else if (method === 'DELETE') this.cluster.setPartitionForTest([]);
      const room = url.searchParams.get('room');
      return reply(200, {
        node: this.cluster.nodeId,
        ...(room !== null ? { home: this.cluster.homeOf(room) ?? null } : {}),
      });
    }
    if (url.pathname !== '/test/impairment') return reply(404, { error: 'not found' });
    const method = req.method ?? 'GET';
    if (method !== 'PUT' && method !== 'DELETE')
      return reply(405, { error: 'use PUT or DELETE with the x-concord-test: 1 header' });
    if (req.headers[TEST_HEADER] !== '1')
      return reply(403, { error: 'the x-concord-test: 1 header is required' });
    if (method === 'DELETE') this.relay.impairment = undefined;
    else {
      const num = (name: string, fallback: number): number => {
        const v = url.searchParams.get(name);
        return v === null ? fallback : Number(v);
      };
      try {
        this.relay.impairment = new MediaImpairment({
          lossPct: num('lossPct', 0),
          jitterMs: num('jitterMs', 0),
          ...(url.searchParams.has('delayMs') ? { delayMs: num('delayMs', 0) } : {}),
          seed: num('seed', 1),
        });
      } catch (err) {
        return reply(400, { error: (err as Error).message });
      }
      this.logger.warn({ ...this.relay.impairment.settings }, 'test impairment on');
    }
    reply(200, { impairment: this.relay.impairment?.settings ?? null });
  }

  // Dev mode only, loopback peers only: mints a token for anyone, signed with the dev key
  // (it stops working when dev mode is off), or an unsigned dev token without a secret.
  private async devToken(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    if (!isLoopbackHost(req.socket.remoteAddress ?? '')) {
      res.writeHead(403, { 'Content-Type': 'application/json', ...ISOLATION_HEADERS });
      res.end(JSON.stringify({ error: '/dev/token answers loopback clients only' }));
      return;
    }
    const name = (url.searchParams.get('name') ?? '').trim().slice(0, 64);
    const userId =
      (url.searchParams.get('user') ?? name.toLowerCase().replace(/[^a-z0-9_.-]/g, '-')).slice(
        0,
        64,
      ) || `guest-${randomBytes(3).toString('hex')}`;
    const token = await mintToken(
      this.devKey,
      { userId, name: name || userId, ttlSeconds: DEV_TOKEN_TTL_SEC },
      { [DEV_TOKEN_CLAIM]: true },
    );
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      ...ISOLATION_HEADERS,
    });
    res.end(JSON.stringify({ token, userId, expiresInSec: DEV_TOKEN_TTL_SEC }));
  }
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function hostname(hostHeader: string): string {
  // "[::1]:8080" → "::1", "localhost:8080" → "localhost"
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']'));
  const colon = hostHeader.lastIndexOf(':');
  return colon >= 0 ? hostHeader.slice(0, colon) : hostHeader;
}

function refuse(socket: Socket, status: number, text: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  // A peer that never closes its side must not keep the socket.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
