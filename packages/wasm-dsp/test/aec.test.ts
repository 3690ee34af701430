// Echo canceller quality on the synthetic room: decaying-noise impulse responses
// (RT60 150 ms and 300 ms, 10 ms direct delay), echo at −26 dBFS active level, pink noise 30 dB
// below it, espeak-ng speech at the far end (and a different voice at the near end). Outputs
// are compared after removing the canceller's fixed 10 ms latency.
import { beforeAll, describe, expect, it } from 'vitest';
import { DspError } from '../src/DspError.js';
import { EchoCanceller } from '../src/EchoCanceller.js';
import { ReferenceEchoCanceller } from '../src/reference/aec.js';
import { readKernelBytes } from '../src/wasmLoader.js';
import {
  activeLevelDbfs,
  convolve,
  dbfs,
  FS,
  pinkNoise,
  roomImpulseResponse,
  scaleTo,
  siSdr,
  speechTrack,
} from '@concord/testing';

const FRAME = 960;
const ECHO_DBFS = -26;

interface Scenario {
  mic: Float32Array;
  ref: Float32Array;
  echo: Float32Array;
  near: Float32Array;
}

interface ScenarioOptions {
  seconds: number;
  rt60Ms: number;
  /** Near-end talker active over [from, to) seconds. */
  near?: [from: number, to: number];
  /** Abrupt echo-path change (new impulse response) at this time, in s. */
  changeAtS?: number;
  /** Extra bulk delay between reference and microphone, in ms. */
  extraDelayMs?: number;
}

function scenario(o: ScenarioOptions): Scenario {
  const n = Math.round(o.seconds * FS);
  const ref = scaleTo(speechTrack(n, 'en-us', 400, 0), -20);
  const delayMs = 10 + (o.extraDelayMs ?? 0);
  let echo = convolve(ref, roomImpulseResponse(o.rt60Ms, delayMs, 1));
  if (o.changeAtS !== undefined) {
    const other = convolve(ref, roomImpulseResponse(o.rt60Ms, delayMs + 4, 101));
    echo.set(other.subarray(Math.round(o.changeAtS * FS)), Math.round(o.changeAtS * FS));
  }
  const g = 10 ** ((ECHO_DBFS - activeLevelDbfs(echo)) / 20);
  echo = echo.map((v) => v * g);
  const noise = scaleTo(pinkNoise(n, 7), ECHO_DBFS - 30);
  const near = new Float32Array(n);
  if (o.near) {
    const a = Math.round(o.near[0] * FS);
    const b = Math.round(o.near[1] * FS);
    const talk = speechTrack(b - a, 'en-gb+f3', 300, 3);
    const gn = 10 ** ((ECHO_DBFS - activeLevelDbfs(talk)) / 20);
    for (let i = 0; i < b - a; i++) near[a + i] = talk[i]! * gn;
  }
  const mic = new Float32Array(n);
  for (let i = 0; i < n; i++) mic[i] = echo[i]! + noise[i]! + near[i]!;
  return { mic, ref, echo, near };
}

interface FrameProcessor {
  readonly latencySamples: number;
  processFrame(mic: Float32Array, ref: Float32Array, out: Float32Array): void;
}

/** Runs the whole signal and returns the output advanced by the processor's latency. */
function runAll(p: FrameProcessor, s: Scenario): Float32Array {
  const n = s.mic.length;
  const out = new Float32Array(n);
  for (let i = 0; i + FRAME <= n; i += FRAME) {
    p.processFrame(
      s.mic.subarray(i, i + FRAME),
      s.ref.subarray(i, i + FRAME),
      out.subarray(i, i + FRAME),
    );
  }
  const aligned = new Float32Array(n);
  aligned.set(out.subarray(p.latencySamples));
  return aligned;
}

/** ERLE in dB over [t0, t1) s, counting only 20 ms frames whose echo is within 20 dB of its
 *  active level (far-end activity) and that hold no near-end speech. */
function erleActive(s: Scenario, out: Float32Array, t0: number, t1: number): number {
  const level = activeLevelDbfs(s.echo);
  let micE = 0;
  let outE = 0;
  for (let i = Math.round(t0 * FS); i + FRAME <= Math.round(t1 * FS); i += FRAME) {
    if (dbfs(s.echo, i, i + FRAME) < level - 20) continue;
    if (dbfs(s.near, i, i + FRAME) > -80) continue;
    for (let k = i; k < i + FRAME; k++) {
      micE += s.mic[k]! ** 2;
      outE += out[k]! ** 2;
    }
  }
  return 10 * Math.log10(micE / outE);
}

let aecBytes: Uint8Array<ArrayBuffer>;
let aecModule: WebAssembly.Module;

beforeAll(async () => {
  aecBytes = new Uint8Array(await readKernelBytes('aec'));
  aecModule = new WebAssembly.Module(aecBytes);
});

async function canceller(options?: { suppression?: boolean }): Promise<EchoCanceller> {
  return EchoCanceller.create(options);
}

describe.each([150, 300])('EchoCanceller, room with RT60 %i ms', (rt60Ms) => {
  it('single talk: ERLE ≥ 30 dB over far-end-only frames after 2 s', async () => {
    const s = scenario({ seconds: 8, rt60Ms });
    const out = runAll(await canceller(), s);
    expect(erleActive(s, out, 2, 8)).toBeGreaterThanOrEqual(30);
  });

  it('converges: a 0.5 s window reaches 20 dB ERLE within 1 s', async () => {
    const s = scenario({ seconds: 2, rt60Ms });
    const out = runAll(await canceller(), s);
    expect(erleActive(s, out, 0.5, 1)).toBeGreaterThanOrEqual(20);
  });

  it('double talk: near-end SI-SDR improves by ≥ 6 dB and the filter does not diverge', async () => {
    const s = scenario({ seconds: 10, rt60Ms, near: [3, 8] });
    const out = runAll(await canceller(), s);
    const a = 3 * FS;
    const b = 8 * FS;
    const gain = siSdr(s.near, out, a, b) - siSdr(s.near, s.mic, a, b);
    expect(gain).toBeGreaterThanOrEqual(6);
    // After the near end stops, the echo is still cancelled (no divergence).
    expect(erleActive(s, out, 8.5, 10)).toBeGreaterThanOrEqual(20);
  });

  it('echo-path change: back to 20 dB ERLE within 1 s', async () => {
    const s = scenario({ seconds: 6, rt60Ms, changeAtS: 4 });
    const out = runAll(await canceller(), s);
    expect(erleActive(s, out, 3, 4)).toBeGreaterThanOrEqual(20);
    expect(erleActive(s, out, 4.5, 5)).toBeGreaterThanOrEqual(20);
  });
});

describe('EchoCanceller', () => {
  it('tolerates a 60 ms bulk delay between reference and microphone (ERLE ≥ 30 dB after 2 s)', async () => {
    const s = scenario({ seconds: 8, rt60Ms: 150, extraDelayMs: 60 });
    const out = runAll(await canceller(), s);
    expect(erleActive(s, out, 2, 8)).toBeGreaterThanOrEqual(30);
  });

  it('passes near-end speech untouched while the far end is silent', async () => {
    const s = scenario({ seconds: 4, rt60Ms: 150, near: [0, 4] });
    s.ref.fill(0);
    for (let i = 0; i < s.mic.length; i++) s.mic[i]! -= s.echo[i]!;
    const out = runAll(await canceller(), s);
    const end = 4 * FS - FRAME;
    expect(siSdr(s.near, out, 0, end)).toBeGreaterThanOrEqual(siSdr(s.near, s.mic, 0, end) - 0.5);
  });

  it('the linear filter alone removes ≥ 10 dB of echo after 2 s (suppression off)', async () => {
    const s = scenario({ seconds: 8, rt60Ms: 150 });
    const out = runAll(await canceller({ suppression: false }), s);
    expect(erleActive(s, out, 2, 8)).toBeGreaterThanOrEqual(10);
  });

  it('the WASM SIMD kernel matches the scalar TS reference (output SNR ≥ 40 dB)', async () => {
    const s = scenario({ seconds: 4, rt60Ms: 300, near: [2.5, 4] });
    const wasm = runAll(await canceller(), s);
    const reference = new ReferenceEchoCanceller();
    const ref = runAll(
      {
        latencySamples: reference.latencySamples,
        processFrame: (m, r, o) => reference.process(m, r, o),
      },
      s,
    );
    let signal = 0;
    let error = 0;
    for (let i = 0; i < ref.length; i++) {
      signal += ref[i]! ** 2;
      error += (ref[i]! - wasm[i]!) ** 2;
    }
    expect(10 * Math.log10(signal / error)).toBeGreaterThanOrEqual(40);
  });

  it('reports ERLE, echo return loss and double talk per frame', async () => {
    const s = scenario({ seconds: 8, rt60Ms: 150, near: [4, 8] });
    const aec = await canceller();
    let dtSingle = 0;
    let dtNear = 0;
    let framesSingle = 0;
    let framesNear = 0;
    let erleAt4 = 0;
    const level = activeLevelDbfs(s.near.subarray(4 * FS));
    for (let i = 0; i + FRAME <= s.mic.length; i += FRAME) {
      aec.micView.set(s.mic.subarray(i, i + FRAME));
      aec.refView.set(s.ref.subarray(i, i + FRAME));
      aec.process();
      if (i === 4 * FS - FRAME) erleAt4 = aec.erleDb;
      if (i >= 2 * FS && i < 4 * FS) {
        framesSingle++;
        if (aec.doubleTalk) dtSingle++;
      }
      if (i >= 4 * FS && dbfs(s.near, i, i + FRAME) > level - 10) {
        framesNear++;
        if (aec.doubleTalk) dtNear++;
      }
    }
    expect(erleAt4).toBeGreaterThan(20);
    expect(Number.isFinite(aec.echoReturnLossDb)).toBe(true);
    expect(aec.leakEstimate).toBeGreaterThan(0);
    expect(dtSingle / framesSingle).toBeLessThan(0.1);
    expect(dtNear / framesNear).toBeGreaterThan(0.5);
  });

  it('reset() forgets the echo path', async () => {
    const s = scenario({ seconds: 3, rt60Ms: 150 });
    const aec = await canceller();
    runAll(aec, s);
    aec.reset();
    expect(aec.erleDb).toBe(0);
    const out = runAll(aec, s);
    expect(erleActive(s, out, 0.5, 1)).toBeGreaterThanOrEqual(20);
  });

  it('validates options and frames', async () => {
    await expect(EchoCanceller.create({ tailMs: 5 })).rejects.toThrow(RangeError);
    await expect(EchoCanceller.create({ tailMs: Number.NaN })).rejects.toThrow(/tailMs/);
    const aec = EchoCanceller.createSync(aecModule, { tailMs: 300 });
    expect(aec.tailMs).toBe(300);
    const ok = new Float32Array(FRAME);
    expect(() => aec.processFrame(new Float32Array(480), ok, ok)).toThrow(RangeError);
    expect(() => aec.processFrame(ok, ok, new Float32Array(961))).toThrow(/out/);
  });

  it('destroy() is idempotent and later calls throw DspError', () => {
    const aec = EchoCanceller.createSync(aecBytes);
    aec.destroy();
    aec.destroy();
    expect(() => aec.process()).toThrow(DspError);
    expect(() => aec.reset()).toThrow(/destroyed/);
    expect(() => aec.erleDb).toThrow(DspError);
  });

  it('creating and destroying 1,000 cancellers leaves memory flat', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const cycle = (count: number): void => {
      for (let i = 0; i < count; i++) {
        const aec = EchoCanceller.createSync(aecModule);
        aec.process();
        aec.destroy();
      }
      gc?.();
    };
    cycle(200);
    const before = process.memoryUsage();
    cycle(1_000);
    const after = process.memoryUsage();
    // One instance touches ~0.4 MB of WASM memory: 1,000 leaked instances add ~400 MB of RSS
    // (measured); WASM memory does not show in `arrayBuffers`, RSS is the real check.
    expect(after.rss - before.rss).toBeLessThan(64 * 1024 * 1024);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
  });
});
