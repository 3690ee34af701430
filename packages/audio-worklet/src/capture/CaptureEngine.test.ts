import { CaptureChain, Resampler } from '@concord/wasm-dsp';
import { afterEach, describe, expect, it } from 'vitest';
import { CAPTURE_FRAME_SAMPLES as F, RENDER_QUANTUM_FRAMES } from '../shared/constants.js';
import { FRAME_FLAG_MUTED, FrameRing, type FrameMeta } from '../shared/FrameRing.js';
import { SampleRing } from '../shared/SampleRing.js';
import { CaptureEngine } from './CaptureEngine.js';

const OFF = { aec: false, ns: false, agc: false, vad: false };
const sine = (n: number, hz: number, rate: number, amp = 0.5, phase0 = 0): Float32Array =>
  Float32Array.from(
    { length: n },
    (_, i) => amp * Math.sin((2 * Math.PI * hz * (i + phase0)) / rate),
  );
const disposables: Array<{ destroy(): void }> = [];
afterEach(() => disposables.splice(0).forEach((d) => d.destroy()));

async function chainOff(): Promise<CaptureChain> {
  const c = await CaptureChain.create({ stages: OFF, frameSamples: F });
  disposables.push(c);
  return c;
}

function feed(engine: CaptureEngine, signal: Float32Array, out?: Float32Array): void {
  const q = new Float32Array(RENDER_QUANTUM_FRAMES);
  const o = new Float32Array(RENDER_QUANTUM_FRAMES);
  for (let at = 0; at + RENDER_QUANTUM_FRAMES <= signal.length; at += RENDER_QUANTUM_FRAMES) {
    q.set(signal.subarray(at, at + RENDER_QUANTUM_FRAMES));
    engine.processQuantum([q], out ? o : undefined);
    out?.set(o, at);
  }
}

describe('CaptureEngine', () => {
  it('turns 48 kHz render quanta into 10 ms frames, bit-exact with every stage off', async () => {
    const frames = FrameRing.allocate(32, false);
    const engine = new CaptureEngine({ contextRateHz: 48_000, chain: await chainOff(), frames });
    const x = sine(RENDER_QUANTUM_FRAMES * 75, 1000, 48_000); // 200 ms
    feed(engine, x);
    expect(engine.stats.frames).toBe(20);
    const got = new Float32Array(F);
    const meta: FrameMeta = { seq: -1, levelDbfs: 0, speechProbability: 0, flags: 0 };
    for (let f = 0; f < 20; f++) {
      expect(frames.pull(got, meta)).toBe(true);
      expect(meta.seq).toBe(f);
      expect(Array.from(got)).toEqual(Array.from(x.subarray(f * F, (f + 1) * F)));
    }
    expect(frames.pull(got, meta)).toBe(false);
  });

  it('averages stereo input and resamples a 44.1 kHz context to 48 kHz frames', async () => {
    const resampleIn = await Resampler.create({
      inRateHz: 44_100,
      outRateHz: 48_000,
      maxInputSamples: 256,
    });
    disposables.push(resampleIn);
    const frames = FrameRing.allocate(64, false);
    const engine = new CaptureEngine({
      contextRateHz: 44_100,
      chain: await chainOff(),
      resampleIn,
      frames,
    });
    const left = sine(44_100, 1000, 44_100, 0.6);
    const right = sine(44_100, 1000, 44_100, 0.2);
    const q = [new Float32Array(128), new Float32Array(128)];
    for (let at = 0; at + 128 <= left.length; at += 128) {
      q[0]!.set(left.subarray(at, at + 128));
      q[1]!.set(right.subarray(at, at + 128));
      engine.processQuantum(q);
    }
    // One second of 44.1 kHz is 100 frames at 48 kHz (minus the filter's delay and the remainder).
    expect(engine.stats.frames).toBeGreaterThanOrEqual(97);
    expect(engine.stats.frames).toBeLessThanOrEqual(100);
    const got = new Float32Array(F);
    const meta: FrameMeta = { seq: 0, levelDbfs: 0, speechProbability: 0, flags: 0 };
    for (let f = 0; f < 20; f++) frames.pull(got, meta); // past the start-up transient
    // A 1 kHz tone at 48 kHz: amplitude (0.6 + 0.2) / 2 and 48 samples per period.
    const peak = Math.max(...got.map(Math.abs));
    expect(peak).toBeGreaterThan(0.39);
    expect(peak).toBeLessThan(0.41);
    let crossings = 0;
    for (let i = 1; i < got.length; i++) if (got[i - 1]! < 0 && got[i]! >= 0) crossings++;
    expect(crossings).toBe(10);
  });

  it('returns the processed signal at the context rate, one frame and 64 samples late, without underruns', async () => {
    const engine = new CaptureEngine({ contextRateHz: 48_000, chain: await chainOff() });
    const x = sine(RENDER_QUANTUM_FRAMES * 30, 440, 48_000);
    const out = new Float32Array(x.length);
    feed(engine, x, out);
    // The first frame completes in quantum 3 (after 512 samples) and is output from there on,
    // behind 64 samples of silence.
    const lag = 3 * RENDER_QUANTUM_FRAMES + 64;
    expect(out.subarray(0, lag).every((v) => v === 0)).toBe(true);
    expect(Array.from(out.subarray(lag, lag + 256))).toEqual(Array.from(x.subarray(0, 256)));
    expect(engine.stats.outputUnderruns).toBe(0);
  });

  it('pulls the far-end reference in step with the microphone and counts its underruns', async () => {
    const chain = await chainOff();
    const reference = SampleRing.allocate(8 * F, false);
    const engine = new CaptureEngine({ contextRateHz: 48_000, chain, reference });
    reference.push(sine(F, 500, 48_000));
    feed(engine, sine(2 * F + 128, 1000, 48_000));
    expect(engine.stats.frames).toBe(2);
    expect(engine.stats.referenceUnderruns).toBe(1);
    expect(Array.from(chain.reference).every((v) => v === 0)).toBe(true);
  });

  it('muted: frames carry silence and the muted flag, while the chain still measures speech', async () => {
    const chain = await CaptureChain.create({ stages: { ...OFF, vad: true }, frameSamples: F });
    disposables.push(chain);
    const frames = FrameRing.allocate(8, false);
    const levels: number[] = [];
    const engine = new CaptureEngine({
      contextRateHz: 48_000,
      chain,
      frames,
      onFrame: (r) => levels.push(r.levelDbfs),
    });
    engine.muted = true;
    feed(engine, sine(F * 2, 300, 48_000, 0.3));
    const got = new Float32Array(F);
    const meta: FrameMeta = { seq: 0, levelDbfs: 0, speechProbability: 0, flags: 0 };
    expect(frames.pull(got, meta)).toBe(true);
    expect(meta.flags & FRAME_FLAG_MUTED).toBe(FRAME_FLAG_MUTED);
    expect(got.every((v) => v === 0)).toBe(true);
    expect(levels[0]).toBeGreaterThan(-15); // the microphone level is still measured
  });

  it('counts overruns when nobody drains the frame ring', async () => {
    const frames = FrameRing.allocate(2, false);
    const engine = new CaptureEngine({ contextRateHz: 48_000, chain: await chainOff(), frames });
    feed(engine, sine(F * 5 + RENDER_QUANTUM_FRAMES, 300, 48_000));
    expect(engine.stats.frames).toBe(5);
    expect(engine.stats.overruns).toBe(3);
  });

  it('refuses a non-48 kHz context without a resampler', async () => {
    const chain = await chainOff();
    expect(() => new CaptureEngine({ contextRateHz: 44_100, chain })).toThrow(RangeError);
  });

  it('refuses a chain of 20 ms frames (the frame ring carries 10 ms frames)', async () => {
    const chain = await CaptureChain.create({ stages: OFF });
    disposables.push(chain);
    expect(() => new CaptureEngine({ contextRateHz: 48_000, chain })).toThrow(/480-sample/);
  });
});
