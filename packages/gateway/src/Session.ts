import type { EncodedEvent, FrameCodec } from '@concord/protocol';
import type { ReplayBuffer, ReplayResult } from './state/ReplayBuffer.js';
import type { TokenBucket } from './TokenBucket.js';
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
const NO_SSRCS: readonly number[] = Object.freeze([]);

/**
 * One identified user session on this node: its rooms, its dispatch sequence and replay
 * buffer. It outlives its connection for the resume window. Main thread.
 */
export class Session {
  // Created on first use: an idle session (connected, in no room) is what a gateway holds most
  // of, and an empty Set or Map costs ~180 bytes of hash table.
  private _rooms: Set<string> | undefined;
  private _speakingIn: Set<string> | undefined;
  private _ssrcs: Map<string, number> | undefined;
  private _retiredSsrcs: number[] | undefined;

  /** Rooms joined, in join order. */
  get rooms(): Set<string> {
    return (this._rooms ??= new Set());
  }

  /** Rooms in which this session is currently speaking. */
  get speakingIn(): Set<string> {
    return (this._speakingIn ??= new Set());
  }

  /** This session's media stream (ssrc) per room it is in; assigned on join. */
  get ssrcs(): Map<string, number> {
    return (this._ssrcs ??= new Map());
  }

  /**
   * Streams this session recently gave up (left or replaced): frames still in flight with them
   * are dropped, not treated as spoofing.
   */
  get retiredSsrcs(): readonly number[] {
    return this._retiredSsrcs ?? NO_SSRCS;
  }

  /** Seq of the last dispatch. */
  private seq = 0;
  private sink: SessionSink | undefined;
  /** Timer that ends the session when its resume window runs out. */
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the session has ended. */
  ended = false;
  /**
   * Highest request id (`req`) of this session's messages taken up for handling. RESUMED tells
   * the client, which sends again the requests above it: those never reached a handler.
   */
  lastReq = 0;
  /**
   * Rate budgets of the session's messages (control, SPEAKING, receiver reports), created on
   * first use by its connection. They belong to the session, not the socket: a client that
   * resumes keeps what it spent.
   */
  controlBucket: TokenBucket | undefined;
  speakingBucket: TokenBucket | undefined;
  reportBucket: TokenBucket | undefined;
  /**
   * @param lastSeq seq of the session's last dispatch so far (a session taken over from
   *   another node continues its numbering; 0 for a new one).
   */
  constructor(
    readonly record: SessionRecord,
    private readonly replay: ReplayBuffer<EncodedEvent>,
    private readonly codec: FrameCodec,
    lastSeq = 0,
  ) {
    this.seq = lastSeq;
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
    const ssrc = this._ssrcs?.get(room);
    if (ssrc === undefined) return;
    this._ssrcs!.delete(room);
    const retired = (this._retiredSsrcs ??= []);
    retired.push(ssrc);
    if (retired.length > RETIRED_SSRCS) retired.shift();
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
