import { Mixer, Resampler } from '@concord/wasm-dsp';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, RENDER_QUANTUM_FRAMES } from '../shared/constants.js';
import { SampleRing } from '../shared/SampleRing.js';
import { MIX_SAMPLES, PlaybackEngine } from '../playback/PlaybackEngine.js';
import { TapEngine } from './TapEngine.js';

const disposables: Array<{ destroy(): void }> = [];
afterEach(() => disposables.splice(0).forEach((d) => d.destroy()));

const sine = (n: number, hz: number, rate: number, from = 0): Float32Array =>
  Float32Array.from(
    { length: n },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * (from + i)) / rate),
  );

describe('TapEngine', () => {
  it('writes a 48 kHz track into the ring as it is, averaging channels to mono', () => {
    const ring = SampleRing.allocate(8 * FRAME_SAMPLES, false);
    const tap = new TapEngine({ ring, maxQueuedSamples: 4 * FRAME_SAMPLES });
    const left = sine(RENDER_QUANTUM_FRAMES, 1000, 48_000);
    const right = left.map((v) => -v / 2);
    tap.processQuantum([left, right]);
    const got = new Float32Array(RENDER_QUANTUM_FRAMES);
    expect(ring.pull(got)).toBe(RENDER_QUANTUM_FRAMES);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(left[i]! / 4, 6);
    // No input connected: silence, still one quantum.
    tap.processQuantum([]);
    expect(ring.availableRead).toBe(RENDER_QUANTUM_FRAMES);
    expect(tap.stats).toMatchObject({ quanta: 2, samples: 2 * RENDER_QUANTUM_FRAMES, dropped: 0 });
  });

  it('resamples a 44.1 kHz context to 48 kHz: a tone keeps its frequency in the ring', async () => {
    const resampleIn = await Resampler.create({
      inRateHz: 44_100,
      outRateHz: 48_000,
      maxInputSamples: RENDER_QUANTUM_FRAMES,
    });
    disposables.push(resampleIn);
    const ring = SampleRing.allocate(100 * FRAME_SAMPLES, false);
    const tap = new TapEngine({ ring, resampleIn, maxQueuedSamples: 100 * FRAME_SAMPLES });
    const quanta = 345; // ~1 s at 44.1 kHz
    for (let q = 0; q < quanta; q++)
      tap.processQuantum([sine(RENDER_QUANTUM_FRAMES, 440, 44_100, q * RENDER_QUANTUM_FRAMES)]);
    const n = ring.availableRead;
    // 48/44.1 times the samples in (the filter's delay aside).
    expect(Math.abs(n - (quanta * RENDER_QUANTUM_FRAMES * 48_000) / 44_100)).toBeLessThan(64);
    const out = new Float32Array(n);
    ring.pull(out);
    // Zero crossings over the second half give the frequency at 48 kHz.
    let crossings = 0;
    for (let i = n / 2 + 1; i < n; i++) if (out[i - 1]! < 0 && out[i]! >= 0) crossings++;
    const hz = (crossings * 48_000) / (n / 2);
    expect(Math.abs(hz - 440)).toBeLessThan(440 * 0.01);
  });

  it('never queues more than maxQueuedSamples: a stalled mix does not turn into delay', () => {
    const ring = SampleRing.allocate(40 * FRAME_SAMPLES, false);
    const tap = new TapEngine({ ring, maxQueuedSamples: 3 * RENDER_QUANTUM_FRAMES });
    for (let q = 0; q < 20; q++) tap.processQuantum([sine(RENDER_QUANTUM_FRAMES, 300, 48_000)]);
    expect(ring.availableRead).toBe(3 * RENDER_QUANTUM_FRAMES);
    expect(tap.stats.dropped).toBe(17 * RENDER_QUANTUM_FRAMES);
  });

  it('feeds the playback mix: a tapped voice comes out at its gain, quantum by quantum', async () => {
    const mixer = await Mixer.create({ maxStreams: 2, frameSamples: MIX_SAMPLES });
    mixer.limiterEnabled = false;
    disposables.push(mixer);
    const playback = new PlaybackEngine({ contextRateHz: 48_000, mixer });
    const ring = SampleRing.allocate(8 * FRAME_SAMPLES, false);
    playback.setStream(1, ring);
    playback.setGain(1, 0.5);
    const tap = new TapEngine({ ring });
    const out = new Float32Array(RENDER_QUANTUM_FRAMES);
    let underruns = 0;
    for (let q = 0; q < 50; q++) {
      tap.processQuantum([new Float32Array(RENDER_QUANTUM_FRAMES).fill(0.4)]);
      playback.processQuantum([out]);
      if (out[RENDER_QUANTUM_FRAMES - 1]! < 0.19) underruns++;
    }
    // The mixer ramps gains over its first frame; from then on 0.4 × 0.5.
    expect(out[RENDER_QUANTUM_FRAMES - 1]).toBeCloseTo(0.2, 5);
    expect(underruns).toBeLessThanOrEqual(1);
    expect(playback.stats.streamUnderruns).toBe(0);
  });
});
