import { SAMPLE_RATE_HZ } from '@concord/wasm-dsp';

/** A pause in a stream longer than this (ms) is recorded as silence; shorter ones are timer jitter. */
const GAP_FILL_MIN_MS = 60;
import { join } from 'node:path';
import type { PlaybackSink } from '../receive/VoiceReceiver.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { writeWavFile } from './wavFiles.js';

/** Options of a {@link ParticipantRecorder}. */
export interface ParticipantRecorderOptions {
  /**
   * Longest recording kept per participant, s (default 600, range 1–3600): older audio is
   * dropped first. 600 s of 48 kHz float samples is 115 MB per participant.
   */
  maxSeconds?: number;
  /** Clock (tests): milliseconds, monotonic. Default `performance.now`. */
  now?: () => number;
}

/** Events of a {@link ParticipantRecorder}. */
export type ParticipantRecorderEvents = {
  /** A decoded frame of `userId` arrived (480 samples, 10 ms, at 48 kHz by default; valid during the call). */
  frame: [userId: string, samples: Float32Array];
};

/**
 * A playback sink for Node apps that records each participant separately: every decoded frame
 * the SDK would play is kept per user id, gaps in a stream (a participant whose stream
 * went idle and came back) are filled with silence so a recording keeps real time, and
 * {@link writeWavFiles} writes one 48 kHz 16-bit WAV per participant. Pass it as
 * `new VoiceClient({ media: { playbackSink: recorder } })`. Node main thread.
 */
export class ParticipantRecorder
  extends TypedEmitter<ParticipantRecorderEvents>
  implements PlaybackSink
{
  private readonly tracks = new Map<
    string,
    { chunks: Float32Array[]; samples: number; lastMs: number }
  >();
  private readonly maxSamples: number;
  private readonly now: () => number;

  /** @throws {RangeError} for a `maxSeconds` outside [1, 3600]. */
  constructor(options: ParticipantRecorderOptions = {}) {
    super();
    const max = options.maxSeconds ?? 600;
    if (!(max >= 1 && max <= 3600))
      throw new RangeError(`maxSeconds must be in [1, 3600] s, got ${String(max)}`);
    this.maxSamples = Math.round(max * SAMPLE_RATE_HZ);
    this.now = options.now ?? (() => performance.now());
  }

  /** {@link PlaybackSink}: keeps a copy of the frame under `key` (the participant's user id). */
  pushFrame(key: string, samples: Float32Array): boolean {
    const nowMs = this.now();
    let track = this.tracks.get(key);
    if (!track) this.tracks.set(key, (track = { chunks: [], samples: 0, lastMs: nowMs }));
    // A stream that paused (idle timeout) and came back: silence for the time it was away, so
    // the recording stays aligned with real time. Gaps up to GAP_FILL_MIN_MS are timer jitter.
    const awayMs = nowMs - track.lastMs - (samples.length * 1000) / SAMPLE_RATE_HZ;
    if (awayMs > GAP_FILL_MIN_MS)
      this.append(track, new Float32Array(Math.round((awayMs * SAMPLE_RATE_HZ) / 1000)));
    this.append(track, samples.slice());
    track.lastMs = nowMs;
    this.safeEmit('frame', key, samples);
    return true;
  }

  /** User ids with a recording. */
  get userIds(): string[] {
    return [...this.tracks.keys()];
  }

  /** Seconds recorded for `userId` (0 when none). */
  durationSeconds(userId: string): number {
    return (this.tracks.get(userId)?.samples ?? 0) / SAMPLE_RATE_HZ;
  }

  /** `userId`'s recording so far as one array (48 kHz mono; a copy). Empty when none. */
  samples(userId: string): Float32Array {
    const track = this.tracks.get(userId);
    const out = new Float32Array(track?.samples ?? 0);
    let at = 0;
    for (const c of track?.chunks ?? []) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** Forgets `userId`'s recording, or every recording. */
  clear(userId?: string): void {
    if (userId === undefined) this.tracks.clear();
    else this.tracks.delete(userId);
  }

  /**
   * Writes `<dir>/<userId>.wav` (48 kHz mono 16-bit) for each participant recorded, creating
   * `dir`; user ids are made safe as file names. Returns the paths written.
   */
  writeWavFiles(dir: string): string[] {
    return this.userIds.map((id) =>
      writeWavFile(join(dir, `${id.replace(/[^A-Za-z0-9_.-]/g, '_')}.wav`), this.samples(id)),
    );
  }

  private append(track: { chunks: Float32Array[]; samples: number }, chunk: Float32Array): void {
    track.chunks.push(chunk);
    track.samples += chunk.length;
    while (track.samples - track.chunks[0]!.length >= this.maxSamples) {
      track.samples -= track.chunks.shift()!.length;
    }
  }
}
