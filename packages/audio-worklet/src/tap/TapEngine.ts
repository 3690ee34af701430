import type { Resampler } from '@concord/wasm-dsp';
import { RENDER_QUANTUM_FRAMES } from '../shared/constants.js';
import type { SampleRing } from '../shared/SampleRing.js';

/** Parts of a {@link TapEngine}. */
export interface TapEngineOptions {
  /** The 48 kHz ring the playback processor mixes from (one voice's slot). */
  ring: SampleRing;
  /** Context rate → 48 kHz; required when the context does not run at 48 kHz. */
  resampleIn?: Resampler;
  /**
   * Most samples (48 kHz) kept queued in the ring; older ones are dropped so a stall of the
   * playback processor never turns into lasting delay. Default: 3 render quanta.
   */
  maxQueuedSamples?: number;
}

/** Counters of a {@link TapEngine}. */
export interface TapStats {
  /** Render quanta taken in. */
  quanta: number;
  /** 48 kHz samples written to the ring. */
  samples: number;
  /** Samples dropped because the ring held more than `maxQueuedSamples` or was full. */
  dropped: number;
}

/**
 * Feeds one remote WebRTC voice into the playback mix: each render quantum of its track (at the
 * context rate, channels averaged to mono) is resampled to 48 kHz and pushed into the voice's
 * PCM ring, which the playback processor mixes like a decoded WebSocket voice — same gain, mix,
 * limiter and echo-canceller reference. Audio thread; `processQuantum` allocates nothing.
 */
export class TapEngine {
  /** Counters since creation. */
  readonly stats: TapStats = { quanta: 0, samples: 0, dropped: 0 };
  private readonly mono = new Float32Array(RENDER_QUANTUM_FRAMES * 2);
  private readonly maxQueued: number;

  constructor(private readonly options: TapEngineOptions) {
    this.maxQueued = options.maxQueuedSamples ?? 3 * RENDER_QUANTUM_FRAMES;
    if (!(this.maxQueued >= RENDER_QUANTUM_FRAMES))
      throw new RangeError(`maxQueuedSamples must be >= ${RENDER_QUANTUM_FRAMES}`);
  }

  /** Takes one render quantum of the track (no channels: silence). No allocation. */
  processQuantum(channels: readonly Float32Array[]): void {
    this.stats.quanta++;
    const n = channels[0]?.length ?? RENDER_QUANTUM_FRAMES;
    const { resampleIn, ring } = this.options;
    const mono = resampleIn ? resampleIn.input : this.mono;
    if (channels.length === 0) mono.fill(0, 0, n);
    else if (channels.length === 1) mono.set(channels[0]!.subarray(0, n));
    else {
      const scale = 1 / channels.length;
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let c = 0; c < channels.length; c++) sum += channels[c]![i]!;
        mono[i] = sum * scale;
      }
    }
    let out = mono;
    let count = n;
    if (resampleIn) {
      count = resampleIn.process(n);
      out = resampleIn.output;
    }
    // Keep the queue short: what the mix has not taken beyond a few quanta is stale.
    const excess = ring.availableRead + count - this.maxQueued;
    if (excess > 0) {
      // The consumer side owns the read index: it cannot be moved from here. Drop the newest
      // samples instead, which the mix would only have played late.
      this.stats.dropped += Math.min(excess, count);
      count -= Math.min(excess, count);
    }
    const written = ring.push(out, 0, count);
    this.stats.samples += written;
    this.stats.dropped += count - written;
  }
}
