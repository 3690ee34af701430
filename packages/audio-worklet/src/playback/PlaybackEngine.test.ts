import { Mixer, Resampler } from '@concord/wasm-dsp';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../shared/constants.js';
import { SampleRing } from '../shared/SampleRing.js';
import { PlaybackEngine } from './PlaybackEngine.js';

const disposables: Array<{ destroy(): void }> = [];
afterEach(() => disposables.splice(0).forEach((d) => d.destroy()));

async function mixer(maxStreams = 4): Promise<Mixer> {
  const m = await Mixer.create({ maxStreams });
  m.limiterEnabled = false;
  disposables.push(m);
  return m;
}
const constant = (n: number, v: number): Float32Array => new Float32Array(n).fill(v);

function render(engine: PlaybackEngine, quanta: number): Float32Array {
  const out = new Float32Array(quanta * 128);
  const q = new Float32Array(128);
  for (let i = 0; i < quanta; i++) {
    engine.processQuantum([q]);
    out.set(q, i * 128);
  }
  return out;
}

describe('PlaybackEngine', () => {
  it('mixes two streams at their gains', async () => {
    const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer() });
    const a = SampleRing.allocate(4 * FRAME_SAMPLES, false);
    const b = SampleRing.allocate(4 * FRAME_SAMPLES, false);
    engine.setStream(0, a);
    engine.setStream(2, b);
    engine.setGain(0, 0.5);
    engine.setGain(2, 2);
    for (let f = 0; f < 3; f++) {
      a.push(constant(FRAME_SAMPLES, 0.2));
      b.push(constant(FRAME_SAMPLES, 0.1));
    }
    const out = render(engine, 22); // 2816 samples ≈ 2.9 frames
    // Gains ramp across the first frame; from the second frame on: 0.5·0.2 + 2·0.1 = 0.3.
    for (const v of out.subarray(FRAME_SAMPLES, 2 * FRAME_SAMPLES)) expect(v).toBeCloseTo(0.3, 5);
    expect(engine.stats.streamUnderruns).toBe(0);
  });

  it('plays silence for a stream with no frame ready and counts the underrun', async () => {
    const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer() });
    engine.setStream(1, SampleRing.allocate(2 * FRAME_SAMPLES, false));
    const out = render(engine, 8);
    expect(out.every((v) => v === 0)).toBe(true);
    expect(engine.stats.streamUnderruns).toBeGreaterThan(0);
  });

  it('writes the 48 kHz mix to the echo reference and resamples the speaker output to 44.1 kHz', async () => {
    const resampleOut = await Resampler.create({
      inRateHz: 48_000,
      outRateHz: 44_100,
      maxInputSamples: FRAME_SAMPLES,
    });
    disposables.push(resampleOut);
    const reference = SampleRing.allocate(16 * FRAME_SAMPLES, false);
    const engine = new PlaybackEngine({
      contextRateHz: 44_100,
      mixer: await mixer(),
      resampleOut,
      reference,
    });
    const s = SampleRing.allocate(16 * FRAME_SAMPLES, false);
    engine.setStream(0, s);
    for (let f = 0; f < 10; f++) s.push(constant(FRAME_SAMPLES, 0.25));
    const out = render(engine, 300); // 38,400 samples at 44.1 kHz ≈ 0.87 s ≈ 44 mixes
    expect(engine.stats.mixes).toBeGreaterThanOrEqual(40);
    expect(reference.availableRead).toBe(
      engine.stats.mixes * FRAME_SAMPLES - engine.stats.referenceOverruns * FRAME_SAMPLES,
    );
    // Mid-signal the DC level survives resampling.
    expect(out[4000]).toBeCloseTo(0.25, 2);
  });

  it('validates slots and gains', async () => {
    const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer(2) });
    expect(() => engine.setGain(0, 2.5)).toThrow(RangeError);
    expect(() => engine.setGain(2, 1)).toThrow(RangeError);
    expect(() => engine.setStream(-1, undefined)).toThrow(RangeError);
  });
});
