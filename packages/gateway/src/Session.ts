import { randomBytes } from 'node:crypto';
import type { EncodedEvent, FrameCodec } from '@concord/protocol';
import type { ReplayBuffer, ReplayResult } from './state/ReplayBuffer.js';
import type { SessionRecord } from './state/StateStore.js';

/** Outcome of offering a media frame to a connection. */
export type MediaSendResult = 'sent' | 'slow' | 'closed';

/** What a session needs from the connection it is attached to. */
export interface SessionSink {
  /** Queues one encoded message for sending; `type` labels metrics. */
  enqueue(message: Uint8Array, type: string): void;
  /**
   * Writes one media frame now, unless the socket is backed up (`'slow'`: the frame is
   * dropped) or closing. Never batched, never replayed.
   */
  sendMedia(frame: Uint8Array): MediaSendResult;
}

/** How many given-up media streams a session remembers (see {@link Session.retireSsrc}). */
const RETIRED_SSRCS = 8;

/**
 * One identified user session on this node: its rooms, its dispatch sequence and replay
 * buffer. It outlives its connection for the resume window. Main thread.
 */
export class Session {
  /** Rooms joined, in join order. */
  readonly rooms = new Set<string>();
  /** Rooms in which this session is currently speaking. */
  readonly speakingIn = new Set<string>();
  /** This session's media stream (ssrc) per room it is in; assigned on join. */
  readonly ssrcs = new Map<string, number>();
  /**
   * Streams this session recently gave up (left or replaced): frames still in flight with them
   * are dropped, not treated as spoofing.
   */
  readonly retiredSsrcs: number[] = [];
  /** Seq of the last dispatch. */
  private seq = 0;
  private sink: SessionSink | undefined;
  /** Timer that ends the session when its resume window runs out. */
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the session has ended. */
  ended = false;
  /**
   * The secret a RESUME must present (sent only to this session's client, in READY): knowing
   * the user id and the session id is not enough to take a session over.
   */
  readonly resumeSecret: string;

  constructor(
    readonly record: SessionRecord,
    private readonly replay: ReplayBuffer<EncodedEvent>,
    private readonly codec: FrameCodec,
    resumeSecret: string = randomBytes(24).toString('base64url'),
  ) {
    this.resumeSecret = resumeSecret;
  }

  /** Session id. */
  get id(): string {
    return this.record.sessionId;
  }

  /** User id from the token. */
  get userId(): string {
    return this.record.userId;
  }

  /** Seq of the last dispatch. */
  get lastSeq(): number {
    return this.seq;
  }

  /** The attached connection, if any. */
  get connection(): SessionSink | undefined {
    return this.sink;
  }

  /**
   * Stamps the next seq into `event`, keeps it for replay and sends it when connected.
   * Events reach a detached session's replay buffer only.
   */
  dispatch(event: EncodedEvent, type: string): void {
    if (this.ended) return;
    const seq = ++this.seq;
    // The event itself (shared with every other recipient) is what the replay buffer keeps.
    this.replay.append(seq, event);
    this.sink?.enqueue(this.codec.encodeDispatch(seq, event), type);
  }

  /** Forgets this session's stream in `room`, remembering it as recently retired. */
  retireSsrc(room: string): void {
    const ssrc = this.ssrcs.get(room);
    if (ssrc === undefined) return;
    this.ssrcs.delete(room);
    this.retiredSsrcs.push(ssrc);
    if (this.retiredSsrcs.length > RETIRED_SSRCS) this.retiredSsrcs.shift();
  }

  /** The client has processed every dispatch up to `seq`: they leave the replay buffer. */
  acknowledge(seq: number): void {
    this.replay.acknowledge(seq);
  }

  /** The encoded DISPATCH messages after `seq`, for a resume (see `ReplayBuffer.since`). */
  replaySince(seq: number): ReplayResult {
    const r = this.replay.since(seq);
    if (!r.ok) return r;
    return {
      ok: true,
      messages: r.messages.map((e, i) => this.codec.encodeDispatch(seq + 1 + i, e)),
    };
  }

  /** Attaches a connection; the caller has already replaced any previous one. */
  attach(sink: SessionSink): void {
    this.sink = sink;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  /** Detaches `sink` if it is the attached one. */
  detach(sink: SessionSink): boolean {
    if (this.sink !== sink) return false;
    this.sink = undefined;
    return true;
  }
}
