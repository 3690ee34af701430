import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloseCode, FrameCodec } from '@concord/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  mintToken,
  parseDevToken,
  roomAllowed,
  verifyToken,
  type TokenGrant,
} from './auth/tokens.js';
import { resolveConfig, type GatewayConfig } from './config.js';
import { Connection } from './Connection.js';
import { GatewayError } from './errors.js';
import type { GatewayContext } from './GatewayContext.js';
import { ISOLATION_HEADERS, serveStatic } from './http/staticFiles.js';
import { createLogger, type Logger } from './logger.js';
import { MediaImpairment } from './MediaImpairment.js';
import { MediaRelay } from './MediaRelay.js';
import { GatewayMetrics } from './metrics.js';
import { RoomService } from './RoomService.js';
import { Session } from './Session.js';
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

/**
 * The Concord reference gateway: HTTP (`/healthz`, `/metrics`, static files, dev tokens) and
 * the WebSocket gateway on one port. Main thread of a Node process.
 */
export class Gateway implements GatewayContext {
  readonly config: GatewayConfig;
  readonly codec: FrameCodec;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly rooms: RoomService;
  readonly relay: MediaRelay;
  readonly sessions = new Map<string, Session>();
  private readonly store: StateStore;
  private readonly bus: RoomBus;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly perIp = new Map<string, number>();
  private _status: GatewayStatus = 'idle';

  /** @throws {GatewayError} `CONCORD_ERR_CONFIG` for invalid settings. */
  constructor(config: Partial<GatewayConfig> = {}, deps: GatewayDeps = {}) {
    this.config = resolveConfig(config);
    this.logger = deps.logger ?? createLogger(this.config.logLevel);
    this.metrics = deps.metrics ?? new GatewayMetrics();
    this.store = deps.store ?? new MemoryStateStore();
    this.bus = deps.bus ?? new MemoryRoomBus();
    this.codec = new FrameCodec({
      limits: this.config.limits,
      compressionThresholdBytes: this.config.compressionThresholdBytes,
    });
    this.relay = new MediaRelay(this.config, this.metrics);
    this.rooms = new RoomService(
      this.store,
      this.bus,
      this.codec,
      this.config,
      (id) => this.sessions.get(id),
      this.logger,
      this.relay,
    );
    this.http = createServer((req, res) => void this.onHttp(req, res));
    // ws enforces a hard payload cap (close 1009) well above our own limit, which answers with
    // the documented 4010 first.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.config.limits.maxFrameBytes * 4,
      perMessageDeflate: false,
    });
    this.http.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== this.config.path || this._status !== 'listening') {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
    });
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
      this.http.listen(this.config.port, this.config.host, () => resolve());
    });
    this._status = 'listening';
    const address = this.http.address() as AddressInfo;
    if (this.config.insecureDevAuth)
      this.logger.warn(
        'insecure dev auth is ON: unsigned dev tokens are accepted and /dev/token mints tokens for anyone',
      );
    this.logger.info(
      { host: address.address, port: address.port, path: this.config.path },
      'gateway listening',
    );
    return address;
  }

  /**
   * Graceful shutdown: stop accepting, send RECONNECT to every client and close them with
   * SERVER_DRAINING, wait up to `drainTimeoutMs` for sockets to close, then close the rest.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this._status === 'closed' || this._status === 'draining') return;
    const wasListening = this._status === 'listening';
    this._status = 'draining';
    this.logger.info({ connections: this.connections.size }, 'draining');
    const httpClosed = wasListening
      ? new Promise<void>((r) => this.http.close(() => r()))
      : Promise.resolve();
    for (const c of this.connections) c.drain('server shutting down');
    const deadline = Date.now() + this.config.drainTimeoutMs;
    while (this.connections.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.wss.clients) ws.terminate();
    this.http.closeAllConnections();
    await httpClosed;
    for (const s of this.sessions.values()) if (s.expiryTimer) clearTimeout(s.expiryTimer);
    this.sessions.clear();
    this.wss.close();
    await this.bus.close();
    await this.store.close();
    this._status = 'closed';
    this.logger.info('gateway closed');
  }

  // ---- GatewayContext ----

  async authenticate(token: string): Promise<TokenGrant> {
    if (this.config.insecureDevAuth) {
      const dev = parseDevToken(token);
      if (dev) return dev;
    }
    if (this.config.secret === undefined)
      throw GatewayError.authFailed('only dev tokens are accepted');
    return verifyToken(this.config.secret, token);
  }

  roomAllowed(session: Session, room: string): boolean {
    return roomAllowed({ rooms: session.record.allowedRooms }, room);
  }

  async createSession(grant: TokenGrant): Promise<Session> {
    const record = {
      sessionId: randomBytes(16).toString('base64url'),
      userId: grant.userId,
      name: grant.name,
      allowedRooms: grant.rooms,
      expiresAt: grant.expiresAt,
    };
    await this.store.putSession(record);
    const replay = this.store.replayBuffer(record.sessionId, {
      maxEvents: this.config.replayMaxEvents,
      maxBytes: this.config.replayMaxBytes,
    });
    const session = new Session(record, replay, this.codec);
    this.sessions.set(session.id, session);
    this.metrics.sessions.set(this.sessions.size);
    return session;
  }

  async endSession(session: Session): Promise<void> {
    if (session.ended) return;
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    await this.rooms.leaveAll(session);
    session.ended = true;
    this.sessions.delete(session.id);
    await this.store.deleteSession(session.id);
    this.metrics.sessions.set(this.sessions.size);
    this.logger.debug({ sessionId: session.id, userId: session.userId }, 'session ended');
  }

  scheduleExpiry(session: Session): void {
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(
      () => void this.endSession(session),
      this.config.resumeWindowMs,
    );
    session.expiryTimer.unref?.();
  }

  onConnectionClosed(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    this.metrics.connections.set(this.connections.size);
    const n = (this.perIp.get(connection.ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(connection.ip);
    else this.perIp.set(connection.ip, n);
  }

  // ---- internals ----

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const ip = req.socket.remoteAddress ?? 'unknown';
    const count = (this.perIp.get(ip) ?? 0) + 1;
    if (count > this.config.maxConnectionsPerIp) {
      this.metrics.rejections.inc({ code: 'TOO_MANY_CONNECTIONS' });
      this.logger.info(
        { ip, limit: this.config.maxConnectionsPerIp },
        'too many connections from one address',
      );
      ws.close(CloseCode.TOO_MANY_CONNECTIONS, 'too many connections from this address');
      return;
    }
    this.perIp.set(ip, count);
    const connection = new Connection(ws, ip, this);
    this.connections.add(connection);
    this.metrics.connections.set(this.connections.size);
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/healthz') {
        const ok = this._status === 'listening';
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', ...ISOLATION_HEADERS });
        res.end(
          JSON.stringify({
            status: this._status,
            connections: this.connections.size,
            sessions: this.sessions.size,
          }),
        );
        return;
      }
      if (url.pathname === '/metrics') {
        res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
        res.end(await this.metrics.registry.metrics());
        return;
      }
      if (url.pathname === '/test/impairment' && this.config.enableTestImpairment) {
        this.testImpairment(req.method ?? 'GET', url, res);
        return;
      }
      if (url.pathname === '/dev/token' && this.config.insecureDevAuth) {
        await this.devToken(url, res);
        return;
      }
      if (await serveStatic(this.config.staticMounts, req, res)) return;
      res.writeHead(404, { 'Content-Type': 'text/plain', ...ISOLATION_HEADERS });
      res.end('not found');
    } catch (err) {
      this.logger.error({ err }, 'http handler failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  }

  // Test-only: PUT sets seeded loss/jitter on forwarded media, DELETE clears it, GET reads it.
  private testImpairment(method: string, url: URL, res: ServerResponse): void {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...ISOLATION_HEADERS });
      res.end(JSON.stringify(body));
    };
    if (method === 'DELETE') this.relay.impairment = undefined;
    else if (method === 'PUT' || method === 'POST') {
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
        reply(400, { error: (err as Error).message });
        return;
      }
      this.logger.warn({ ...this.relay.impairment.settings }, 'test impairment on');
    } else if (method !== 'GET') {
      reply(405, { error: 'use GET, PUT or DELETE' });
      return;
    }
    reply(200, { impairment: this.relay.impairment?.settings ?? null });
  }

  // Insecure dev mode only: mints a signed token (or a dev token without a secret) for anyone.
  private async devToken(url: URL, res: ServerResponse): Promise<void> {
    const name = (url.searchParams.get('name') ?? '').trim().slice(0, 64);
    const userId =
      (url.searchParams.get('user') ?? name.toLowerCase().replace(/[^a-z0-9_.-]/g, '-')).slice(
        0,
        64,
      ) || `guest-${randomBytes(3).toString('hex')}`;
    const token = this.config.secret
      ? await mintToken(this.config.secret, { userId, name: name || userId, ttlSeconds: 12 * 3600 })
      : `dev:${userId}${name ? `:${name}` : ''}`;
    res.writeHead(200, { 'Content-Type': 'application/json', ...ISOLATION_HEADERS });
    res.end(JSON.stringify({ token, userId }));
  }
}
