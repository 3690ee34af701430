import { Mixer, Resampler } from '@concord/wasm-dsp';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_SAMPLES } from '../shared/constants.js';
import { SampleRing } from '../shared/SampleRing.js';
import { MIX_SAMPLES, PlaybackEngine } from './PlaybackEngine.js';

const disposables: Array<{ destroy(): void }> = [];
afterEach(() => disposables.splice(0).forEach((d) => d.destroy()));

async function mixer(maxStreams = 4): Promise<Mixer> {
  const m = await Mixer.create({ maxStreams, frameSamples: MIX_SAMPLES });
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
    const out = render(engine, 100); // 12,800 samples at 44.1 kHz ≈ 13,930 at 48 kHz ≈ 109 mixes
    expect(engine.stats.mixes).toBeGreaterThanOrEqual(108);
    expect(engine.stats.referenceOverruns).toBe(0);
    expect(reference.availableRead).toBe(engine.stats.mixes * MIX_SAMPLES);
    // Mid-signal the DC level survives resampling.
    expect(out[4000]).toBeCloseTo(0.25, 2);
  });

  it('takes a voice quantum by quantum: a frame pushed late is heard at the next quantum', async () => {
    const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer() });
    const s = SampleRing.allocate(4 * FRAME_SAMPLES, false);
    engine.setStream(0, s);
    render(engine, 5); // 5 quanta of underrun: nothing queued
    s.push(constant(FRAME_SAMPLES, 0.5));
    const next = render(engine, 1);
    // Gain ramps from 0 only on a new stream; slot 0 starts at gain 1: the quantum is the frame.
    expect(next[MIX_SAMPLES - 1]).toBeCloseTo(0.5, 5);
    // Whole-frame mixing would have taken all 960 samples at once; per quantum 128 are used.
    expect(s.availableRead).toBe(FRAME_SAMPLES - MIX_SAMPLES);
  });

  it('plays a partial quantum and pads the rest with silence, counting one underrun', async () => {
    const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer() });
    const s = SampleRing.allocate(4 * FRAME_SAMPLES, false);
    engine.setStream(0, s);
    s.push(constant(64, 0.25));
    const out = render(engine, 1);
    expect(out[63]).toBeCloseTo(0.25, 5);
    expect(out[64]).toBe(0);
    expect(engine.stats.streamUnderruns).toBe(1);
  });

  it('refuses a mixer that does not work on render quanta', async () => {
    const m = await Mixer.create({ maxStreams: 2 }); // 960-sample frames
    disposables.push(m);
    expect(() => new PlaybackEngine({ contextRateHz: 48_000, mixer: m })).toThrow(/128-sample/);
  });

  it('validates slots and gains', async () => {
    const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer(2) });
    expect(() => engine.setGain(0, 2.5)).toThrow(RangeError);
    expect(() => engine.setGain(2, 1)).toThrow(RangeError);
    expect(() => engine.setStream(-1, undefined)).toThrow(RangeError);
  });
});
