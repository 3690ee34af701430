import { Mixer, Resampler, Spatializer } from '@concord/wasm-dsp';
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

  describe('binaural mode', () => {
    async function spatial(maxVoices = 4): Promise<Spatializer> {
      const s = await Spatializer.create({ maxVoices, frameSamples: MIX_SAMPLES });
      s.limiterEnabled = false;
      disposables.push(s);
      return s;
    }
    function renderStereo(engine: PlaybackEngine, quanta: number): [Float32Array, Float32Array] {
      const l = new Float32Array(quanta * 128);
      const r = new Float32Array(quanta * 128);
      const ql = new Float32Array(128);
      const qr = new Float32Array(128);
      for (let i = 0; i < quanta; i++) {
        engine.processQuantum([ql, qr]);
        l.set(ql, i * 128);
        r.set(qr, i * 128);
      }
      return [l, r];
    }
    const energy = (x: Float32Array): number => x.reduce((a, v) => a + v * v, 0);

    it('puts a voice placed on the left louder and earlier in the left channel, and the ear average in the echo reference', async () => {
      const reference = SampleRing.allocate(16 * FRAME_SAMPLES, false);
      const engine = new PlaybackEngine({
        contextRateHz: 48_000,
        mixer: await mixer(),
        spatializer: await spatial(),
        reference,
      });
      const ring = SampleRing.allocate(16 * FRAME_SAMPLES, false);
      engine.setStream(1, ring);
      engine.setRenderMode('binaural');
      engine.setDirection(1, Math.PI / 2, 0);
      // A click train: every 480 samples one impulse.
      const x = new Float32Array(8 * FRAME_SAMPLES);
      for (let i = 100; i < x.length; i += 480) x[i] = 0.5;
      ring.push(x);
      const [l, r] = renderStereo(engine, 56);
      expect(energy(l)).toBeGreaterThan(2 * energy(r));
      const argmax = (a: Float32Array, from: number): number => {
        let best = from;
        for (let i = from; i < from + 480; i++) if (Math.abs(a[i]!) > Math.abs(a[best]!)) best = i;
        return best;
      };
      const lagSamples = argmax(r, 960) - argmax(l, 960);
      expect(lagSamples).toBeGreaterThanOrEqual(30);
      expect(lagSamples).toBeLessThanOrEqual(33);
      const ref = new Float32Array(reference.availableRead);
      reference.pull(ref);
      for (let i = 0; i < 2048; i += 7) expect(ref[i]).toBeCloseTo((l[i]! + r[i]!) / 2, 6);
    });

    it('renders a voice without a direction identically in both channels, as in mono mode', async () => {
      const engine = new PlaybackEngine({
        contextRateHz: 48_000,
        mixer: await mixer(),
        spatializer: await spatial(),
      });
      const ring = SampleRing.allocate(16 * FRAME_SAMPLES, false);
      engine.setStream(0, ring);
      engine.setRenderMode('binaural');
      ring.push(constant(4 * FRAME_SAMPLES, 0.25));
      const [l, r] = renderStereo(engine, 20);
      expect(Array.from(r)).toEqual(Array.from(l));
      expect(l[1000]).toBeCloseTo(0.25, 6);
      engine.setRenderMode('mono');
      const [ml, mr] = renderStereo(engine, 4);
      expect(ml[100]).toBeCloseTo(0.25, 6);
      expect(mr[100]).toBe(ml[100]);
    });

    it('applies gains in binaural mode (0 silences a voice)', async () => {
      const engine = new PlaybackEngine({
        contextRateHz: 48_000,
        mixer: await mixer(),
        spatializer: await spatial(),
      });
      const ring = SampleRing.allocate(16 * FRAME_SAMPLES, false);
      engine.setStream(0, ring);
      engine.setRenderMode('binaural');
      engine.setDirection(0, -0.5, 0);
      engine.setGain(0, 0);
      ring.push(constant(4 * FRAME_SAMPLES, 0.25));
      const [l, r] = renderStereo(engine, 20);
      expect(energy(l.subarray(128)) + energy(r.subarray(128))).toBe(0);
    });

    it('off 48 kHz, resamples each ear with its own resampler (a placed voice still leans left)', async () => {
      const make = () =>
        Resampler.create({ inRateHz: 48_000, outRateHz: 44_100, maxInputSamples: FRAME_SAMPLES });
      const [resampleOut, resampleOutRight] = [await make(), await make()];
      disposables.push(resampleOut, resampleOutRight);
      const spatializer = await spatial();
      await expect(
        mixer().then(
          (m) => new PlaybackEngine({ contextRateHz: 44_100, mixer: m, spatializer, resampleOut }),
        ),
      ).rejects.toThrow(/resampleOutRight/);
      const engine = new PlaybackEngine({
        contextRateHz: 44_100,
        mixer: await mixer(),
        spatializer,
        resampleOut,
        resampleOutRight,
      });
      const ring = SampleRing.allocate(16 * FRAME_SAMPLES, false);
      engine.setStream(0, ring);
      engine.setRenderMode('binaural');
      engine.setDirection(0, 1.2, 0);
      const x = new Float32Array(12 * FRAME_SAMPLES);
      for (let i = 0; i < x.length; i++) x[i] = 0.3 * Math.sin((2 * Math.PI * 4000 * i) / 48_000);
      ring.push(x);
      const [l, r] = renderStereo(engine, 60);
      expect(energy(l.subarray(1024))).toBeGreaterThan(4 * energy(r.subarray(1024)));
      expect(energy(r.subarray(1024))).toBeGreaterThan(0);
    });

    it('refuses binaural mode and directions without a spatializer', async () => {
      const engine = new PlaybackEngine({ contextRateHz: 48_000, mixer: await mixer() });
      expect(() => engine.setRenderMode('binaural')).toThrow(/spatializer/);
      expect(() => engine.setDirection(0, 0, 0)).toThrow(/spatializer/);
      expect(engine.renderMode).toBe('mono');
    });
  });
});
