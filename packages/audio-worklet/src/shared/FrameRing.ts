import { CAPTURE_FRAME_SAMPLES } from './constants.js';
import { SampleRing, type SampleRingHandle } from './SampleRing.js';

/** Floats of metadata ahead of each frame in a {@link FrameRing}. */
export const FRAME_META_FLOATS = 4;

/** Metadata of one captured frame. */
export interface FrameMeta {
  /** Frame counter since capture started (exact up to 2^24 frames ≈ 93 h). */
  seq: number;
  /** RMS level of the frame, in dBFS. */
  levelDbfs: number;
  /** Speech probability in [0, 1]. */
  speechProbability: number;
  /** Bit 0 speaking, bit 1 muted. */
  flags: number;
}

/** Flag bit: the VAD says speaking. */
export const FRAME_FLAG_SPEAKING = 1;
/** Flag bit: capture was muted (the samples are silence). */
export const FRAME_FLAG_MUTED = 2;

/**
 * SPSC queue of captured 10 ms frames with metadata, on a {@link SampleRing}: each entry is
 * [seq, levelDbfs, speechProbability, flags, …480 samples] (`CAPTURE_FRAME_SAMPLES`). A frame is pushed whole or not at
 * all, and becomes visible to the consumer only once complete. No allocation.
 */
export class FrameRing {
  private readonly ring: SampleRing;
  private readonly meta = new Float32Array(FRAME_META_FLOATS);
  private static readonly ENTRY = FRAME_META_FLOATS + CAPTURE_FRAME_SAMPLES;

  constructor(handle: SampleRingHandle) {
    this.ring = new SampleRing(handle);
  }

  /** Allocates a ring holding `frames` frames (SharedArrayBuffer when available). */
  static allocate(frames: number, shared?: boolean): FrameRing {
    return new FrameRing(SampleRing.allocate(frames * FrameRing.ENTRY, shared).handle);
  }

  /** The buffers, to hand the other end to another thread. */
  get handle(): SampleRingHandle {
    return this.ring.handle;
  }

  /** Whole frames ready to pull. */
  get framesAvailable(): number {
    return Math.floor(this.ring.availableRead / FrameRing.ENTRY);
  }

  /** Pushes one frame; false (nothing written) when the ring is full. Producer side. */
  push(
    samples: Float32Array,
    seq: number,
    levelDbfs: number,
    speechProbability: number,
    flags: number,
  ): boolean {
    if (this.ring.availableWrite < FrameRing.ENTRY) return false;
    const m = this.meta;
    m[0] = seq;
    m[1] = levelDbfs;
    m[2] = speechProbability;
    m[3] = flags;
    this.ring.push(m, 0, FRAME_META_FLOATS);
    this.ring.push(samples, 0, CAPTURE_FRAME_SAMPLES);
    return true;
  }

  /**
   * Wakes the consumer (see {@link waitForFrame}) after a push. Producer side; no allocation.
   */
  notify(): void {
    this.ring.notifyWrite();
  }

  /**
   * Consumer side: resolves after the producer's next {@link notify}, at once if a frame was
   * pushed since `sinceMark` ({@link writeMark} read before the last drain), or after
   * `timeoutMs`. Undefined when waiting is impossible here (no shared memory or no
   * `Atomics.waitAsync`): poll instead.
   */
  waitForFrame(sinceMark: number, timeoutMs: number): Promise<unknown> | undefined {
    return this.ring.waitForWrite(sinceMark, timeoutMs);
  }

  /** The producer's write position; pass it to {@link waitForFrame}. */
  get writeMark(): number {
    return this.ring.writeMark;
  }

  /** Pulls one frame into `samples` and `meta`; false when none is complete. Consumer side. */
  pull(samples: Float32Array, meta: FrameMeta): boolean {
    if (this.ring.availableRead < FrameRing.ENTRY) return false;
    this.ring.pull(this.meta, 0, FRAME_META_FLOATS);
    this.ring.pull(samples, 0, CAPTURE_FRAME_SAMPLES);
    meta.seq = this.meta[0]!;
    meta.levelDbfs = this.meta[1]!;
    meta.speechProbability = this.meta[2]!;
    meta.flags = this.meta[3]!;
    return true;
  }
}
