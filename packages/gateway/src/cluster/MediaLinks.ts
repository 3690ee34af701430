import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { ClusterLogger } from './ClusterEmitter.js';

/** Path of the node-to-node media link endpoint (same port as the gateway). */
export const LINK_PATH = '/cluster/link';
/** Header naming the connecting node. */
const NODE_HEADER = 'x-concord-node';
/** Header carrying HMAC(link key, node id): only nodes that share the secret may link. */
const AUTH_HEADER = 'x-concord-link-auth';
/** Close code a node sends its inbound links when it starts draining (they re-home at once). */
export const LINK_CLOSE_DRAINING = 4100;

/** Link message kinds (first byte). */
const KIND_MEDIA = 1;
const KIND_SUBSCRIBE = 2;
const KIND_UNSUBSCRIBE = 3;

/** What the links need from the node they belong to. */
export interface MediaLinkHost {
  /** This node's id. */
  readonly nodeId: string;
  /** The node that is `room`'s home (by placement over live nodes), or undefined for none. */
  homeOf(room: string): string | undefined;
  /** The link URL of a node (`ws://host:port/cluster/link`), undefined when unknown. */
  linkUrlOf(nodeId: string): string | undefined;
  /** Whether this node has members in `room`. */
  hasLocalMembers(room: string): boolean;
  /** Hands a frame from another node to this node's members of `room` (no selection). */
  deliverLocal(room: string, frame: Uint8Array): void;
  /** A link to `nodeId` closed or failed: it is suspect until the registry says otherwise. */
  peerLost(nodeId: string, reason: string): void;
}

interface OutLink {
  readonly nodeId: string;
  readonly ws: WebSocket;
  open: boolean;
  readonly rooms: Set<string>;
}

interface InLink {
  readonly nodeId: string;
  readonly ws: WebSocket;
  readonly rooms: Set<string>;
}

/** Counters of the links (for /metrics). */
export interface MediaLinkStats {
  framesUp: number;
  framesDown: number;
  framesIn: number;
  linksOpened: number;
  linksLost: number;
}

/**
 * Node-to-node media links of a gateway cluster: a room's media meets on its home node and
 * never goes through Redis. A node with members in a room homed elsewhere keeps one WebSocket
 * link to that home (one per peer node, shared by rooms) and subscribes the room on it. Frames
 * flow by three rules that make a tree per room whatever views the nodes have of placement, so
 * no member ever hears a frame twice and frames never loop:
 * - a local member's frame goes to this node's members, up to the room's home (if another
 *   node) and down every inbound link subscribed to the room;
 * - a frame arriving on an inbound link goes to this node's members and down the other
 *   inbound links of the room (never up);
 * - a frame arriving from the home (the outbound link) goes to this node's members only.
 *
 * Wire format, binary messages: `kind` (1 byte: 1 media, 2 subscribe, 3 unsubscribe), room
 * name length (u16 BE), room name (UTF-8), then for media the media frame as received.
 * Links authenticate with HMAC-SHA256(link key, node id) in a header; the key comes from the
 * gateway's token secret. Main thread.
 */
export class MediaLinks {
  readonly stats: MediaLinkStats = {
    framesUp: 0,
    framesDown: 0,
    framesIn: 0,
    linksOpened: 0,
    linksLost: 0,
  };
  private readonly out = new Map<string, OutLink>();
  /** Local rooms homed on another node: that node's id. */
  private readonly upstream = new Map<string, string>();
  private readonly inbound = new Set<InLink>();
  private readonly inboundByRoom = new Map<string, Set<InLink>>();
  private readonly roomPrefixes = new Map<string, Buffer>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private closed = false;
  private draining = false;

  constructor(
    private readonly host: MediaLinkHost,
    private readonly key: Buffer,
    private readonly logger: ClusterLogger,
  ) {}

  /** Rooms this node sends up to another home. */
  get upstreamRooms(): number {
    return this.upstream.size;
  }

  /** Open links (outbound + inbound). */
  get linkCount(): number {
    return this.out.size + this.inbound.size;
  }

  /** The node this node sends `room`'s media to, if its home is another node. */
  upstreamOf(room: string): string | undefined {
    return this.upstream.get(room);
  }

  /**
   * Keeps a link open to each of `peers` (the live nodes rooms may be placed on) and closes idle
   * links to others: re-homing a room is then one subscribe message on a link that is already
   * up, not a TCP and WebSocket handshake (it matters for the drain's audio gap).
   */
  connect(peers: readonly string[]): void {
    if (this.closed || this.draining) return;
    const wanted = new Set(peers);
    wanted.delete(this.host.nodeId);
    for (const id of wanted) if (!this.out.has(id)) this.openOut(id);
    for (const link of [...this.out.values()])
      if (!wanted.has(link.nodeId) && link.rooms.size === 0) this.closeOut(link);
  }

  /** Re-evaluates where `room`'s media goes (after a join, a leave or a placement change). */
  refresh(room: string): void {
    if (this.closed) return;
    const home = this.host.hasLocalMembers(room) ? this.host.homeOf(room) : undefined;
    const want = home === undefined || home === this.host.nodeId ? undefined : home;
    const current = this.upstream.get(room);
    if (current === want) return;
    if (current !== undefined) {
      this.upstream.delete(room);
      const link = this.out.get(current);
      if (link) {
        link.rooms.delete(room);
        if (link.open) link.ws.send(this.control(KIND_UNSUBSCRIBE, room));
      }
    }
    if (want === undefined) return;
    const link = this.out.get(want) ?? this.openOut(want);
    if (!link) return;
    this.upstream.set(room, want);
    link.rooms.add(room);
    if (link.open) link.ws.send(this.control(KIND_SUBSCRIBE, room));
  }

  /**
   * A local member's admitted frame of `room`: up to the home and down the inbound links.
   * Main thread, per frame.
   */
  fromLocal(room: string, frame: Uint8Array): void {
    const home = this.upstream.get(room);
    if (home !== undefined) {
      const link = this.out.get(home);
      if (link?.open) {
        link.ws.send(this.media(room, frame));
        this.stats.framesUp++;
      }
    }
    const subs = this.inboundByRoom.get(room);
    if (subs === undefined || subs.size === 0) return;
    const message = this.media(room, frame);
    for (const l of subs) {
      l.ws.send(message);
      this.stats.framesDown++;
    }
  }

  /** Handles an upgrade on {@link LINK_PATH}; refuses peers without the right key. */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const nodeId = req.headers[NODE_HEADER];
    const auth = req.headers[AUTH_HEADER];
    if (
      this.closed ||
      this.draining ||
      typeof nodeId !== 'string' ||
      typeof auth !== 'string' ||
      !equal(auth, this.authFor(nodeId))
    ) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.acceptInbound(nodeId, ws));
  }

  /**
   * Tells every inbound link this node is draining (they re-home their rooms at once) and
   * stops accepting new ones.
   */
  drainInbound(): void {
    this.draining = true;
    for (const l of [...this.inbound]) l.ws.close(LINK_CLOSE_DRAINING, 'draining');
  }

  /** Closes every link (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.out.values()) l.ws.terminate();
    for (const l of this.inbound) l.ws.terminate();
    this.out.clear();
    this.upstream.clear();
    this.inbound.clear();
    this.inboundByRoom.clear();
    this.wss.close();
  }

  // ---- internals ----

  private authFor(nodeId: string): string {
    return createHmac('sha256', this.key).update(nodeId).digest('base64url');
  }

  private openOut(nodeId: string): OutLink | undefined {
    const url = this.host.linkUrlOf(nodeId);
    if (url === undefined) return undefined;
    const ws = new WebSocket(url, {
      headers: { [NODE_HEADER]: this.host.nodeId, [AUTH_HEADER]: this.authFor(this.host.nodeId) },
      perMessageDeflate: false,
    });
    ws.binaryType = 'nodebuffer';
    const link: OutLink = { nodeId, ws, open: false, rooms: new Set() };
    this.out.set(nodeId, link);
    ws.on('open', () => {
      link.open = true;
      this.stats.linksOpened++;
      for (const room of link.rooms) ws.send(this.control(KIND_SUBSCRIBE, room));
    });
    ws.on('message', (data: Buffer) => {
      // From the home: this node's members only.
      const parsed = this.parse(data);
      if (parsed?.kind !== KIND_MEDIA) return;
      this.stats.framesIn++;
      this.host.deliverLocal(parsed.room, parsed.payload);
    });
    ws.on('error', (err) => this.logger.debug({ err, peer: nodeId }, 'media link error'));
    ws.on('close', (code) => {
      if (this.out.get(nodeId) !== link) return;
      this.out.delete(nodeId);
      const rooms = [...link.rooms];
      for (const room of rooms) this.upstream.delete(room);
      if (this.closed) return;
      // A draining peer tells us (re-home now); a lost link with rooms on it makes the peer
      // suspect (a dead node is noticed here long before its registry entry expires).
      if (code !== LINK_CLOSE_DRAINING && rooms.length === 0) return;
      this.stats.linksLost++;
      this.host.peerLost(nodeId, code === LINK_CLOSE_DRAINING ? 'draining' : `closed ${code}`);
      for (const room of rooms) this.refresh(room);
    });
    return link;
  }

  private closeOut(link: OutLink): void {
    this.out.delete(link.nodeId);
    link.ws.close(1000, 'unused');
  }

  private acceptInbound(nodeId: string, ws: WebSocket): void {
    const link: InLink = { nodeId, ws, rooms: new Set() };
    this.inbound.add(link);
    ws.on('message', (data: Buffer) => {
      const parsed = this.parse(data);
      if (!parsed) return;
      const { kind, room } = parsed;
      if (kind === KIND_SUBSCRIBE) {
        link.rooms.add(room);
        let set = this.inboundByRoom.get(room);
        if (!set) this.inboundByRoom.set(room, (set = new Set()));
        set.add(link);
        return;
      }
      if (kind === KIND_UNSUBSCRIBE) {
        this.unsubscribe(link, room);
        return;
      }
      // A member's frame from a node that sends this room here: this node's members and the
      // room's other inbound links, never up (no loops whatever the views of placement).
      this.stats.framesIn++;
      this.host.deliverLocal(room, parsed.payload);
      const subs = this.inboundByRoom.get(room);
      if (subs === undefined || subs.size < 2) return;
      for (const l of subs) {
        if (l === link) continue;
        l.ws.send(data);
        this.stats.framesDown++;
      }
    });
    ws.on('error', (err) => this.logger.debug({ err, peer: nodeId }, 'inbound media link error'));
    ws.on('close', () => {
      this.inbound.delete(link);
      for (const room of [...link.rooms]) this.unsubscribe(link, room);
    });
  }

  private unsubscribe(link: InLink, room: string): void {
    link.rooms.delete(room);
    const set = this.inboundByRoom.get(room);
    set?.delete(link);
    if (set?.size === 0) this.inboundByRoom.delete(room);
  }

  private prefix(kind: number, room: string): Buffer {
    const name = Buffer.from(room, 'utf8');
    const b = Buffer.allocUnsafe(3 + name.length);
    b[0] = kind;
    b.writeUInt16BE(name.length, 1);
    name.copy(b, 3);
    return b;
  }

  private control(kind: number, room: string): Buffer {
    return this.prefix(kind, room);
  }

  // One allocation per frame and link message (the room's prefix is cached).
  private media(room: string, frame: Uint8Array): Buffer {
    let p = this.roomPrefixes.get(room);
    if (!p) {
      p = this.prefix(KIND_MEDIA, room);
      if (this.roomPrefixes.size > 10_000) this.roomPrefixes.clear();
      this.roomPrefixes.set(room, p);
    }
    return Buffer.concat([p, frame], p.length + frame.length);
  }

  private parse(data: Buffer): { kind: number; room: string; payload: Buffer } | undefined {
    if (data.length < 3) return undefined;
    const len = data.readUInt16BE(1);
    if (data.length < 3 + len) return undefined;
    return {
      kind: data[0]!,
      room: data.toString('utf8', 3, 3 + len),
      payload: data.subarray(3 + len),
    };
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
