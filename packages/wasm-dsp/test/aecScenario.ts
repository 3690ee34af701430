// Echo canceller scenarios and metrics shared by test/aec.test.ts and bench/dsp/aec.bench.ts:
// far-end espeak-ng speech through synthetic room impulse responses (decaying noise, given RT60
// and direct delay), pink noise 30 dB below the echo, optional near-end talker, optional abrupt
// echo-path change. Metrics: ERLE over far-end-only frames, convergence time to 20 dB ERLE,
// minimum windowed ERLE, near-end SI-SDR gain and latency by cross-correlation.
import {
  activeLevelDbfs,
  bestLag,
  convolve,
  dbfs,
  FS,
  pinkNoise,
  roomImpulseResponse,
  scaleTo,
  siSdr,
  speechTrack,
} from '../../testing/src/signals.js';

/** Echo active level of the default scenario, in dBFS (about 9 dB below the reference). */
export const ECHO_DBFS = -26;
/** Reference (far-end) level, RMS over the whole track, in dBFS. */
export const REF_DBFS = -20;

/** One scenario: microphone = echo + noise + near-end, reference = far-end speech. */
export interface Scenario {
  mic: Float32Array;
  ref: Float32Array;
  echo: Float32Array;
  near: Float32Array;
  noise: Float32Array;
}

/** Options of {@link scenario}. */
export interface ScenarioOptions {
  seconds: number;
  rt60Ms: number;
  /** Near-end talker active over [from, to) seconds. */
  near?: [from: number, to: number];
  /** Abrupt echo-path change (new impulse response) at this time, in s. */
  changeAtS?: number;
  /** Extra bulk delay between reference and microphone, in ms. */
  extraDelayMs?: number;
  /**
   * Echo active level relative to the reference's active level, in dB (−30 … +10). Default:
   * the echo at {@link ECHO_DBFS}. Noise stays 30 dB below the echo.
   */
  echoRelDb?: number;
}

/** Builds a seeded scenario (deterministic). */
export function scenario(o: ScenarioOptions): Scenario {
  const n = Math.round(o.seconds * FS);
  const ref = scaleTo(speechTrack(n, 'en-us', 400, 0), REF_DBFS);
  const delayMs = 10 + (o.extraDelayMs ?? 0);
  let echo = convolve(ref, roomImpulseResponse(o.rt60Ms, delayMs, 1));
  if (o.changeAtS !== undefined) {
    const other = convolve(ref, roomImpulseResponse(o.rt60Ms, delayMs + 4, 101));
    echo.set(other.subarray(Math.round(o.changeAtS * FS)), Math.round(o.changeAtS * FS));
  }
  const echoDbfs =
    o.echoRelDb === undefined ? ECHO_DBFS : activeLevelDbfs(ref) + Math.max(-30, o.echoRelDb);
  const g = 10 ** ((echoDbfs - activeLevelDbfs(echo)) / 20);
  echo = echo.map((v) => v * g);
  const noise = scaleTo(pinkNoise(n, 7), echoDbfs - 30);
  const near = new Float32Array(n);
  if (o.near) {
    const a = Math.round(o.near[0] * FS);
    const b = Math.round(o.near[1] * FS);
    const talk = speechTrack(b - a, 'en-gb+f3', 300, 3);
    const gn = 10 ** ((echoDbfs - activeLevelDbfs(talk)) / 20);
    for (let i = 0; i < b - a; i++) near[a + i] = talk[i]! * gn;
  }
  const mic = new Float32Array(n);
  for (let i = 0; i < n; i++) mic[i] = echo[i]! + noise[i]! + near[i]!;
  return { mic, ref, echo, near, noise };
}

/** Anything that processes mic/ref frames into output frames with a fixed latency. */
export interface FrameProcessor {
  readonly latencySamples: number;
  processFrame(mic: Float32Array, ref: Float32Array, out: Float32Array): void;
}

/**
 * Runs the whole signal in `frameSamples` frames and returns the raw output (not realigned).
 */
export function runRaw(p: FrameProcessor, s: Scenario, frameSamples = 960): Float32Array {
  const n = s.mic.length;
  const out = new Float32Array(n);
  for (let i = 0; i + frameSamples <= n; i += frameSamples) {
    p.processFrame(
      s.mic.subarray(i, i + frameSamples),
      s.ref.subarray(i, i + frameSamples),
      out.subarray(i, i + frameSamples),
    );
  }
  return out;
}

/** Runs the whole signal and returns the output advanced by the processor's latency. */
export function runAll(p: FrameProcessor, s: Scenario, frameSamples = 960): Float32Array {
  const out = runRaw(p, s, frameSamples);
  const aligned = new Float32Array(out.length);
  aligned.set(out.subarray(p.latencySamples));
  return aligned;
}

const FRAME = 960;

/** Whether the 20 ms frame at sample `i` is far-end-only (echo within 20 dB of its level). */
function farOnly(s: Scenario, level: number, i: number): boolean {
  return dbfs(s.echo, i, i + FRAME) >= level - 20 && dbfs(s.near, i, i + FRAME) <= -80;
}

/**
 * ERLE in dB over [t0, t1) s, counting only 20 ms frames whose echo is within 20 dB of its
 * active level (far-end activity) and that hold no near-end speech. NaN when no frame counts.
 */
export function erleActive(s: Scenario, out: Float32Array, t0: number, t1: number): number {
  const level = activeLevelDbfs(s.echo);
  let micE = 0;
  let outE = 0;
  let frames = 0;
  for (let i = Math.round(t0 * FS); i + FRAME <= Math.round(t1 * FS); i += FRAME) {
    if (!farOnly(s, level, i)) continue;
    frames++;
    for (let k = i; k < i + FRAME; k++) {
      micE += s.mic[k]! ** 2;
      outE += out[k]! ** 2;
    }
  }
  return frames === 0 ? Number.NaN : 10 * Math.log10(micE / Math.max(outE, 1e-30));
}

/** Time of the first far-end-active 20 ms frame at or after `t0`, in s. */
export function farEndOnsetS(s: Scenario, t0 = 0): number {
  const level = activeLevelDbfs(s.echo);
  for (let i = Math.round(t0 * FS); i + FRAME <= s.mic.length; i += FRAME) {
    if (farOnly(s, level, i)) return i / FS;
  }
  return Number.NaN;
}

/** Length of the windows that decide convergence, in s. */
export const CONVERGENCE_WINDOW_S = 0.2;

/**
 * Convergence time in ms: from the far-end onset at or after `t0` to the end of the first
 * 200 ms window (20 ms hop, far-end-only frames, at least 3 of them) whose ERLE is ≥ `targetDb`.
 * Infinity when no window gets there.
 */
export function convergenceMs(s: Scenario, out: Float32Array, t0 = 0, targetDb = 20): number {
  const onset = t0 === 0 ? farEndOnsetS(s, 0) : t0;
  const level = activeLevelDbfs(s.echo);
  const w = CONVERGENCE_WINDOW_S;
  for (let a = onset; a + w <= s.mic.length / FS; a += FRAME / FS) {
    let frames = 0;
    for (let i = Math.round(a * FS); i + FRAME <= Math.round((a + w) * FS); i += FRAME) {
      if (farOnly(s, level, i)) frames++;
    }
    if (frames >= 3 && erleActive(s, out, a, a + w) >= targetDb) {
      return Math.round((a + w - onset) * 1000);
    }
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * Smallest ERLE of the 0.5 s windows (100 ms hop) in [t0, t1) that hold at least 5 far-end-only
 * frames, in dB.
 */
export function minWindowErle(s: Scenario, out: Float32Array, t0: number, t1: number): number {
  const level = activeLevelDbfs(s.echo);
  let min = Number.POSITIVE_INFINITY;
  for (let a = t0; a + 0.5 <= t1 + 1e-9; a += 0.1) {
    let frames = 0;
    for (let i = Math.round(a * FS); i + FRAME <= Math.round((a + 0.5) * FS); i += FRAME) {
      if (farOnly(s, level, i)) frames++;
    }
    if (frames < 5) continue;
    min = Math.min(min, erleActive(s, out, a, a + 0.5));
  }
  return min;
}

/** Near-end SI-SDR improvement (output vs microphone) over [t0, t1) s, in dB. */
export function siSdrGain(s: Scenario, out: Float32Array, t0: number, t1: number): number {
  const a = Math.round(t0 * FS);
  const b = Math.round(t1 * FS);
  return siSdr(s.near, out, a, b) - siSdr(s.near, s.mic, a, b);
}

/**
 * Delay of the raw output behind the microphone, in samples, by cross-correlation of a
 * near-end-only signal (far end silent) through `p`.
 */
export function measuredLatencySamples(p: FrameProcessor, seconds = 2, frameSamples = 960): number {
  const s = scenario({ seconds, rt60Ms: 150, near: [0, seconds] });
  s.ref.fill(0);
  for (let i = 0; i < s.mic.length; i++) s.mic[i] = s.near[i]! + s.noise[i]!;
  const out = runRaw(p, s, frameSamples);
  return bestLag(s.mic, out, 2000);
}
