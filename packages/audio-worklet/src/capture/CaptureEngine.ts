import { type CaptureChain, type CaptureFrameReport, type Resampler } from '@concord/wasm-dsp';
import {
  CAPTURE_FRAME_SAMPLES,
  FRAME_SAMPLES,
  RENDER_QUANTUM_FRAMES,
  SAMPLE_RATE_HZ,
} from '../shared/constants.js';
import { FRAME_FLAG_MUTED, FRAME_FLAG_SPEAKING, type FrameRing } from '../shared/FrameRing.js';
import { SampleRing } from '../shared/SampleRing.js';

/** Parts of a {@link CaptureEngine}. */
export interface CaptureEngineOptions {
  /** Sample rate of the AudioContext, in Hz. */
  contextRateHz: number;
  /** The DSP chain (48 kHz, 10 ms frames: `frameSamples: 480`). */
  chain: CaptureChain;
  /** Context rate → 48 kHz; required when the context does not run at 48 kHz. */
  resampleIn?: Resampler;
  /** 48 kHz → context rate for the processed output (the MediaStreamTrack). */
  resampleOut?: Resampler;
  /** Far-end reference at 48 kHz, written by the playback engine of the same context. */
  reference?: SampleRing;
  /** Where processed frames go (the transport side reads them). */
  frames?: FrameRing;
  /** Called after each frame with the chain (read `chain.output` and `report` right away). */
  onFrame?: (report: CaptureFrameReport, seq: number, muted: boolean) => void;
}

/** Counters of a {@link CaptureEngine}; read a few times per second. */
export interface CaptureStats {
  /** Render quanta processed. */
  quanta: number;
  /** 10 ms frames processed. */
  frames: number;
  /** Frames dropped because the frame ring was full (the consumer fell behind). */
  overruns: number;
  /** Frames whose far-end reference was incomplete. */
  referenceUnderruns: number;
  /** Quanta of the processed output that had to be padded with silence. */
  outputUnderruns: number;
}

// Far-end samples kept beyond one frame before the oldest are dropped: bounds the reference
// delay if the playback side runs ahead (the echo canceller tolerates a bulk delay, not drift).
const MAX_REFERENCE_BACKLOG = 3 * FRAME_SAMPLES;
// Silence ahead of the processed output at 48 kHz, samples (see `processQuantum`).
const OUTPUT_PRIME_48K = 64;

/**
 * The capture processor's logic without the Web Audio shell, so Node tests can drive it:
 * render quanta in (any rate, mono or stereo) → 48 kHz 10 ms frames → capture chain → frame
 * ring (+ the processed signal back at the context rate). Each frame goes out as soon as its
 * 480 samples are in: 10 ms frames halve the capture fill of 20 ms ones, and the chain's own
 * delay (≈ 12.5 ms) no longer rounds up to a whole 20 ms frame at the encoder. Audio thread;
 * `processQuantum` allocates nothing.
 */
export class CaptureEngine {
  /** When true, frames carry silence (flagged muted) but the chain still runs, so "talking while muted" can be detected. */
  muted = false;
  /** Counters since creation. */
  readonly stats: CaptureStats = {
    quanta: 0,
    frames: 0,
    overruns: 0,
    referenceUnderruns: 0,
    outputUnderruns: 0,
  };
  private readonly mono = new Float32Array(RENDER_QUANTUM_FRAMES);
  private readonly silence = new Float32Array(CAPTURE_FRAME_SAMPLES);
  private readonly mic: SampleRing;
  private readonly out: SampleRing;
  private seq = 0;
  private referenceShort = false;
  private primed = false;

  /**
   * @throws {RangeError} when the context rate needs resamplers that were not given, or the
   * chain does not run 480-sample (10 ms) frames.
   */
  constructor(private readonly options: CaptureEngineOptions) {
    if (options.chain.frameSamples !== CAPTURE_FRAME_SAMPLES) {
      throw new RangeError(
        `chain must run ${CAPTURE_FRAME_SAMPLES}-sample frames, got ${options.chain.frameSamples}`,
      );
    }
    if (options.contextRateHz !== SAMPLE_RATE_HZ && !options.resampleIn) {
      throw new RangeError(
        `a ${options.contextRateHz} Hz context needs resampleIn (to ${SAMPLE_RATE_HZ} Hz)`,
      );
    }
    this.mic = SampleRing.allocate(4 * FRAME_SAMPLES, false);
    this.out = SampleRing.allocate(4 * FRAME_SAMPLES, false);
  }

  /**
   * Consumes one render quantum of input `channels` (empty = silence; stereo is averaged) and
   * fills `output` (if given) with processed audio at the context rate. No allocation.
   */
  processQuantum(channels: readonly Float32Array[], output?: Float32Array): void {
    const { chain, resampleIn, resampleOut, reference, frames, onFrame } = this.options;
    const n = channels[0]?.length ?? RENDER_QUANTUM_FRAMES;
    const mono = this.mono;
    const left = channels[0];
    const right = channels[1];
    if (!left) mono.fill(0, 0, n);
    else if (!right) for (let i = 0; i < n; i++) mono[i] = left[i]!;
    else for (let i = 0; i < n; i++) mono[i] = 0.5 * (left[i]! + right[i]!);
    this.stats.quanta++;

    if (resampleIn) {
      const input = resampleIn.input;
      for (let i = 0; i < n; i++) input[i] = mono[i]!;
      this.mic.push(resampleIn.output, 0, resampleIn.process(n));
    } else this.mic.push(mono, 0, n);

    while (this.mic.availableRead >= CAPTURE_FRAME_SAMPLES) {
      this.mic.pull(chain.input, 0, CAPTURE_FRAME_SAMPLES);
      if (reference) {
        const backlog = reference.availableRead - CAPTURE_FRAME_SAMPLES - MAX_REFERENCE_BACKLOG;
        if (backlog > 0) reference.skip(backlog);
        const got = reference.pull(chain.reference, 0, CAPTURE_FRAME_SAMPLES);
        if (got < CAPTURE_FRAME_SAMPLES) {
          chain.reference.fill(0, got);
          this.referenceShort = true;
        }
      } else chain.reference.fill(0);
      const report = chain.process();
      if (this.referenceShort) this.stats.referenceUnderruns++;
      this.referenceShort = false;
      const seq = this.seq++;
      const muted = this.muted;
      const samples = muted ? this.silence : chain.output;
      const flags = (report.speaking ? FRAME_FLAG_SPEAKING : 0) | (muted ? FRAME_FLAG_MUTED : 0);
      if (frames) {
        if (frames.push(samples, seq, report.levelDbfs, report.speechProbability, flags))
          frames.notify(); // the sender wakes now instead of at its next poll
        else this.stats.overruns++;
      }
      onFrame?.(report, seq, muted);
      this.stats.frames++;
      if (output) {
        if (!this.primed) {
          // 480-sample frames do not divide into 128-sample quanta: the frame after the first
          // completes up to 448 samples of input later than a steady pull would need it, so
          // the output starts that much behind with silence (at 48 kHz 64 samples suffice:
          // frames complete at multiples of 32 samples; with resampling, a whole quantum).
          this.primed = true;
          this.out.push(this.silence, 0, resampleOut ? RENDER_QUANTUM_FRAMES : OUTPUT_PRIME_48K);
        }
        if (resampleOut) {
          resampleOut.input.set(samples);
          this.out.push(resampleOut.output, 0, resampleOut.process(CAPTURE_FRAME_SAMPLES));
        } else this.out.push(samples, 0, CAPTURE_FRAME_SAMPLES);
      }
    }

    if (output) {
      const got = this.out.pull(output, 0, n);
      if (got < n) {
        output.fill(0, got);
        if (this.stats.frames > 0) this.stats.outputUnderruns++;
      }
    }
  }
}
