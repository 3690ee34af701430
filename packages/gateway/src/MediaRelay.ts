import type { MediaImpairment } from './MediaImpairment.js';
import { randomInt } from 'node:crypto';
import { MediaFlags, mediaFrameSamples, readMediaHeader } from '@concord/protocol';
import { GatewayError } from './errors.js';
import { MediaRateLimiter } from './MediaRateLimiter.js';
import type { GatewayMetrics } from './metrics.js';
import type { Session } from './Session.js';
import { newSpeakerState, SpeakerSelector, type SpeakerState } from './SpeakerSelector.js';

/** Settings of a {@link MediaRelay} (from the gateway config). */
export interface MediaRelayOptions {
  /** Streams forwarded at once per room (selective forwarding). */
  maxSpeakers: number;
  /** Media frames per second allowed per stream. */
  mediaRateLimitFps: number;
  /** Frames a stream may send above its rate in a burst. */
  mediaBurstFrames: number;
}

/** One room membership as the relay sees it: the stream, its limiter and speaker state. */
export interface RelayMember {
  readonly session: Session;
  readonly room: RelayRoom;
  readonly ssrc: number;
  readonly limiter: MediaRateLimiter;
  /** Speaker-selection state of this stream. */
  readonly speaker: SpeakerState;
  /** The sender's muted flag: frames of a muted member are not forwarded. */
  muted: boolean;
  /** The listener's deafened flag: a deafened member is sent no media. */
  deafened: boolean;
  /** Frames of this stream were not forwarded since the last one that was (not selected). */
  paused: boolean;
  /**
   * The member's media goes over WebRTC (the SFU): it is sent no frames here, and its own
   * frames reach this relay only from the SFU's bridge ({@link MediaRelay.forwardFromSfu}).
   */
  webrtc: boolean;
}

/** A room with members on this node. */
export interface RelayRoom {
  readonly name: string;
  readonly selector: SpeakerSelector;
  /** Members on this node, in join order. */
  readonly members: RelayMember[];
  /**
   * Receives every admitted WebSocket-path frame of the room (sender not muted, within its
   * rate) while some member is on WebRTC: the SFU bridge. Undefined otherwise.
   */
  bridge: ((member: RelayMember, frame: Uint8Array) => void) | undefined;
}

/**
 * Node-local media relay: assigns each room membership its stream id (ssrc), and forwards
 * every media frame, as the very bytes received, to the other members of the sender's room
 * on this node — only the room's loudest `maxSpeakers` streams ({@link SpeakerSelector}),
 * within each stream's frame rate ({@link MediaRateLimiter}), skipping listeners whose socket
 * is backed up. In a cluster, selected frames also go to the room's other nodes through
 * {@link peerSink} (the cluster's media links), and frames from them arrive through
 * {@link deliverFromPeer}. Main thread; nothing allocated or logged per frame here.
 */
export class MediaRelay {
  /** Test-only loss/jitter on forwarded frames (see {@link MediaImpairment}); none by default. */
  impairment: MediaImpairment | undefined;
  /**
   * Cluster mode: takes every frame selected for forwarding, to send it to the other nodes
   * with members in the room (the cluster's media links). Unset on a single node.
   */
  peerSink: ((room: string, frame: Uint8Array) => void) | undefined;
  private readonly rooms = new Map<string, RelayRoom>();
  private readonly bySsrc = new Map<number, RelayMember>();

  /** @throws {RangeError} for invalid options. */
  constructor(
    private readonly options: MediaRelayOptions,
    private readonly metrics: GatewayMetrics,
    private readonly now: () => number = () => performance.now(),
  ) {
    // Validate once here rather than on the first join.
    new SpeakerSelector(options.maxSpeakers);
    new MediaRateLimiter(options.mediaRateLimitFps, options.mediaBurstFrames);
  }

  /** Number of streams on this node. */
  get streamCount(): number {
    return this.bySsrc.size;
  }

  /**
   * A fresh stream id: random like an RTP SSRC (RFC 3550 §8.1), so ids from different nodes
   * rarely collide and reveal nothing; never 0 and never one in use on this node.
   */
  allocateSsrc(): number {
    for (;;) {
      const ssrc = randomInt(1, 0x1_0000_0000);
      if (!this.bySsrc.has(ssrc)) return ssrc;
    }
  }

  /** Registers `session`'s membership of `room` with stream `ssrc`. */
  add(session: Session, room: string, ssrc: number): RelayMember {
    if (this.bySsrc.has(ssrc)) throw new RangeError(`ssrc ${ssrc} is already in use`);
    let r = this.rooms.get(room);
    if (!r)
      this.rooms.set(
        room,
        (r = {
          name: room,
          selector: new SpeakerSelector(this.options.maxSpeakers),
          members: [],
          bridge: undefined,
        }),
      );
    const member: RelayMember = {
      session,
      room: r,
      ssrc,
      limiter: new MediaRateLimiter(this.options.mediaRateLimitFps, this.options.mediaBurstFrames),
      speaker: newSpeakerState(),
      muted: false,
      paused: false,
      deafened: false,
      webrtc: false,
    };
    r.members.push(member);
    this.bySsrc.set(ssrc, member);
    session.ssrcs.set(room, ssrc);
    return member;
  }

  /** Removes `session`'s membership of `room` (idempotent); its ssrc is retired. */
  remove(session: Session, room: string): void {
    const ssrc = session.ssrcs.get(room);
    if (ssrc === undefined) return;
    session.retireSsrc(room);
    const member = this.bySsrc.get(ssrc);
    if (!member || member.session !== session) return;
    this.bySsrc.delete(ssrc);
    const r = member.room;
    r.selector.remove(member.speaker);
    const i = r.members.indexOf(member);
    if (i >= 0) r.members.splice(i, 1);
    if (r.members.length === 0) this.rooms.delete(room);
  }

  /** Records a member's muted/deafened state. */
  setVoiceState(session: Session, room: string, state: { muted: boolean; deafened: boolean }) {
    const ssrc = session.ssrcs.get(room);
    const member = ssrc === undefined ? undefined : this.bySsrc.get(ssrc);
    if (!member) return;
    member.muted = state.muted;
    member.deafened = state.deafened;
  }

  /** The membership that owns `ssrc` on this node. */
  ownerOf(ssrc: number): RelayMember | undefined {
    return this.bySsrc.get(ssrc);
  }

  /** `session`'s membership of `room`, if any. */
  memberOf(session: Session, room: string): RelayMember | undefined {
    const ssrc = session.ssrcs.get(room);
    return ssrc === undefined ? undefined : this.bySsrc.get(ssrc);
  }

  /** The relay's room `name`, while it has members on this node. */
  room(name: string): RelayRoom | undefined {
    return this.rooms.get(name);
  }

  /**
   * Forwards a frame of WebRTC member `member` (an RTP packet of its producer, turned into a
   * media frame stamped with its ssrc by the SFU's bridge) to the room's WebSocket listeners,
   * through the same speaker selection as WebSocket senders. Main thread, per frame.
   */
  forwardFromSfu(member: RelayMember, frame: Uint8Array): void {
    if (member.muted) {
      this.metrics.media.dropped.sender_muted++;
      return;
    }
    this.forward(member, frame, this.now());
  }

  /**
   * Relays one media frame `session` sent. Frames over the sender's rate, of a muted sender,
   * of a stream the session just left, or not among the room's loudest are dropped (counted);
   * a listener whose socket is backed up misses the frame (counted).
   * @throws {ProtocolError} `INVALID_FRAME` for a malformed frame.
   * @throws {GatewayError} `SSRC_NOT_OWNED` for another stream's ssrc, `RATE_LIMITED` for a
   * flood (over three times the frame rate, sustained).
   */
  relay(session: Session, frame: Uint8Array): void {
    // The clock is read once per frame (it costs ~0.1 µs); the histogram samples 1 in 16.
    const started = this.now();
    const counts = this.metrics.media;
    const sampled = (++counts.framesIn & 15) === 0;
    const ssrc = readMediaHeader(frame);
    const member = this.bySsrc.get(ssrc);
    if (member === undefined || member.session !== session) {
      if (session.retiredSsrcs.includes(ssrc)) {
        counts.dropped.stale_ssrc++;
        return;
      }
      throw GatewayError.ssrcNotOwned(ssrc);
    }
    const admission = member.limiter.admit(started);
    if (admission === 'abuse') throw GatewayError.mediaFlood(member.limiter.fps);
    if (admission === 'drop') {
      counts.dropped.rate_limited++;
      return;
    }
    if (member.muted) {
      counts.dropped.sender_muted++;
      return;
    }
    if (member.webrtc) {
      // Its media goes over WebRTC: a frame here is one still in flight from before the switch.
      counts.dropped.stale_ssrc++;
      return;
    }
    // The Resumed flag is the relay's to set, never a sender's.
    frame[11] = frame[11]! & ~MediaFlags.Resumed;
    member.room.bridge?.(member, frame);
    this.forward(member, frame, started);
    if (sampled) this.metrics.mediaRelaySeconds.observe((this.now() - started) / 1000);
  }

  /**
   * Sends a frame that came from another node of the cluster to this node's WebSocket
   * listeners of `room` (the sender's node already selected it). Main thread, per frame.
   */
  deliverFromPeer(room: string, frame: Uint8Array): void {
    const r = this.rooms.get(room);
    if (r === undefined) return;
    const counts = this.metrics.media;
    let sent = 0;
    let slow = 0;
    const members = r.members;
    for (let i = 0; i < members.length; i++) {
      const other = members[i]!;
      if (other.deafened || other.webrtc) continue;
      const result = other.session.connection?.sendMedia(frame);
      if (result === 'sent') sent++;
      else if (result === 'slow') slow++;
    }
    counts.framesForwarded += sent;
    counts.bytesForwarded += sent * frame.length;
    counts.dropped.slow_consumer += slow;
  }

  // Speaker selection, then the very bytes to every WebSocket listener of the room.
  private forward(member: RelayMember, frame: Uint8Array, now: number): void {
    const counts = this.metrics.media;
    const room = member.room;
    const frameMs = mediaFrameSamples(frame) / 48; // 10 or 20 ms (the Opus TOC)
    if (!room.selector.onFrame(member.speaker, frame[11]!, frame[12]!, now, frameMs)) {
      counts.dropped.not_selected++;
      member.paused = true;
      return;
    }
    if (member.paused) {
      // Tell receivers the sequence gap before this frame was the relay's choice, not loss.
      frame[11] = frame[11]! | MediaFlags.Resumed;
      member.paused = false;
    }
    this.peerSink?.(room.name, frame);
    let sent = 0;
    let slow = 0;
    const members = room.members;
    for (let i = 0; i < members.length; i++) {
      const other = members[i]!;
      if (other === member || other.deafened || other.webrtc) continue;
      // A session waiting to resume has no connection: media is live-only, never replayed.
      const connection = other.session.connection;
      if (this.impairment && connection) {
        if (this.impairment.forward(() => connection.sendMedia(frame))) sent++;
        else counts.dropped.impairment++;
        continue;
      }
      const result = connection?.sendMedia(frame);
      if (result === 'sent') sent++;
      else if (result === 'slow') slow++;
    }
    counts.framesForwarded += sent;
    counts.bytesForwarded += sent * frame.length;
    counts.dropped.slow_consumer += slow;
  }
}
