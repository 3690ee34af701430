import type { Participant as WireParticipant } from '@concord/protocol';
import { checkPosition, type Position } from '../media/spatialScene.js';
import type { ConnectionQuality } from '../stats/connectionQuality.js';

/** Voice state of a participant. */
export interface VoiceState {
  muted: boolean;
  deafened: boolean;
}

/**
 * A member of a room as this client sees it. Updated in place by the room as events arrive;
 * read its fields, don't write them. Main thread.
 */
export class Participant {
  /** User id (from the member's token). */
  readonly userId: string;
  /** Display name. */
  readonly name: string;
  /** Whether the participant's microphone is muted. */
  muted: boolean;
  /** Whether the participant hears nothing. */
  deafened: boolean;
  /** Whether the participant is speaking now. */
  speaking: boolean;
  /**
   * The participant's media stream id in this room, assigned by the gateway (media frames
   * carry it); 0 when not known yet. A new membership (rejoin after a lost session) gets a new one.
   */
  ssrc: number;
  /**
   * Connection quality: for a remote participant, of their stream as received here (loss, jitter,
   * RTT); for the local one, of this client's uplink as the receivers report it. `good` until
   * measured. The room emits `connectionQualityChanged` on change.
   */
  connectionQuality: ConnectionQuality = 'good';
  /**
   * How the participant's voice travels: `webrtc` (UDP, through the SFU) or `websocket` (the
   * gateway socket). The room emits `mediaPathChanged` on change.
   */
  mediaPath: 'webrtc' | 'websocket';
  private _volume = 1;
  private _position: Position | undefined;
  /** @internal Set by the room: applies a volume to this participant's playback. */
  volumeSink: ((userId: string, volume: number) => void) | undefined;
  /** @internal Set by the room: places this participant for spatial audio. */
  positionSink: ((userId: string, position: Position | undefined) => void) | undefined;

  constructor(
    wire: Omit<WireParticipant, 'ssrc' | 'webrtc'> & { ssrc?: number; webrtc?: boolean },
    /** True for this client's own participant. */
    readonly isLocal: boolean,
  ) {
    this.userId = wire.userId;
    this.name = wire.name;
    this.muted = wire.muted;
    this.deafened = wire.deafened;
    this.speaking = wire.speaking;
    this.ssrc = wire.ssrc ?? 0;
    this.mediaPath = wire.webrtc ? 'webrtc' : 'websocket';
  }

  /** Playback volume of this participant, 0–2 (1 = as received). */
  get volume(): number {
    return this._volume;
  }

  /**
   * Sets how loud this participant plays here: 0 (silent) to 2 (+6 dB). Local only; others
   * are not told. Applied on the audio thread, ramped over one frame.
   * @throws {RangeError} for a volume outside [0, 2]. @throws {TypeError} on the local participant.
   */
  setVolume(volume: number): void {
    if (this.isLocal) throw new TypeError('the local participant has no playback volume');
    if (typeof volume !== 'number' || !(volume >= 0 && volume <= 2)) {
      throw new RangeError(`volume must be a number in [0, 2], got ${String(volume)}`);
    }
    this._volume = volume;
    this.volumeSink?.(this.userId, volume);
  }

  /** Where this participant is for spatial audio (a copy), in metres; undefined when unset. */
  get position(): Position | undefined {
    return this._position ? { ...this._position } : undefined;
  }

  /**
   * Places this participant's voice at `position` in the app's world, in metres (`x` east,
   * `y` north, `z` up, default 0), or with `null` takes it back to the centre. Local only:
   * others are not told (share positions through your app). Once the listener is set with
   * `client.audio.setListener()`, the voice is heard from its direction (binaural, rendered on
   * the audio thread) at its proximity gain (silent beyond the radius, see
   * `client.audio.setProximity()`); changes are ramped over one render quantum (2.7 ms). Main thread.
   * @throws {TypeError} on the local participant (use `client.audio.setListener`) or for a
   *   non-finite coordinate.
   */
  setPosition(position: Position | null): void {
    if (this.isLocal)
      throw new TypeError(
        'the local participant is the listener: use client.audio.setListener({ position, heading })',
      );
    if (position !== null) checkPosition(position, 'position');
    this._position =
      position === null
        ? undefined
        : { x: position.x, y: position.y, ...(position.z !== undefined ? { z: position.z } : {}) };
    this.positionSink?.(this.userId, this.position);
  }

  /** Copies the wire state in; returns whether a voice state (muted/deafened/speaking) changed. */
  apply(wire: Partial<WireParticipant>): boolean {
    if (wire.ssrc !== undefined) this.ssrc = wire.ssrc;
    if (wire.webrtc !== undefined) this.mediaPath = wire.webrtc ? 'webrtc' : 'websocket';
    let changed = false;
    for (const key of ['muted', 'deafened', 'speaking'] as const) {
      const v = wire[key];
      if (v !== undefined && v !== this[key]) {
        this[key] = v;
        changed = true;
      }
    }
    return changed;
  }
}
