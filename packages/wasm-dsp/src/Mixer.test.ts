import { describe, expect, it } from 'vitest';
import { rng, speechTrack, whiteNoise } from '@concord/testing';
import { DspError } from './DspError.js';
import { Mixer } from './Mixer.js';
import { ScalarMixer } from './reference/ScalarMixer.js';

const N = 960;

function fill(
  mixer: { input(i: number): Float32Array } | ScalarMixer,
  streams: Float32Array[],
): void {
  streams.forEach((s, i) => {
    if (mixer instanceof ScalarMixer) mixer.inputs[i]!.set(s);
    else mixer.input(i).set(s);
  });
}

function peak(x: Float32Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

describe('Mixer', () => {
  it('matches the scalar reference bit for bit, with gain ramps and the limiter engaged', async () => {
    const mixer = await Mixer.create({ maxStreams: 8 });
    const ref = new ScalarMixer(8, N);
    const r = rng(7);
    for (let frame = 0; frame < 200; frame++) {
      const streams = Array.from({ length: 8 }, (_, s) =>
        whiteNoise(N, frame * 8 + s + 1).map((v) => v * (frame % 50 < 25 ? 0.05 : 0.4)),
      );
      fill(mixer, streams);
      fill(ref, streams);
      for (let s = 0; s < 8; s++) {
        // Some gains change every few frames, one stream is muted, the rest stay put.
        const g = s === 3 ? 0 : frame % 7 === s ? r() * 2 : (mixer.gains[s] ?? 1);
        mixer.gains[s] = g;
        ref.gains[s] = g;
      }
      const count = 5 + (frame % 4);
      const out = mixer.process(count);
      const expected = ref.process(count);
      expect(out).toEqual(expected);
    }
    expect(mixer.takeLimiterReductionDb()).toBeGreaterThan(3);
  });

  it('is transparent when the sum stays below the knee (output equals the plain sum)', async () => {
    const mixer = await Mixer.create({ maxStreams: 4 });
    const streams = [0, 1, 2, 3].map((s) => whiteNoise(N, s + 10).map((v) => v * 0.02));
    fill(mixer, streams);
    const out = mixer.process(4);
    for (let i = 0; i < N; i++) {
      let sum = 0;
      for (const s of streams) sum = Math.fround(sum + s[i]!);
      expect(out[i]).toBe(sum);
    }
    expect(mixer.takeLimiterReductionDb()).toBe(0);
  });

  it('never clips a loud room: 8 talkers at full scale stay under the ceiling', async () => {
    const mixer = await Mixer.create({ maxStreams: 8 });
    const talkers = Array.from({ length: 8 }, (_, i) => {
      const t = speechTrack(N * 100, i % 2 ? 'en-gb' : 'en-us', 200, i);
      const p = peak(t);
      return t.map((v) => v / p); // every talker peaks at 0 dBFS
    });
    const ceiling = 10 ** (-0.2 / 20);
    let worst = 0;
    for (let f = 0; f < 100; f++) {
      talkers.forEach((t, i) => mixer.input(i).set(t.subarray(f * N, (f + 1) * N)));
      worst = Math.max(worst, peak(mixer.process(8)));
    }
    expect(worst).toBeLessThanOrEqual(Math.fround(ceiling));
    expect(worst).toBeGreaterThan(0.8);
  });

  it('ramps a changed gain across one frame and mutes a zero-gain stream', async () => {
    const mixer = await Mixer.create({ maxStreams: 1, limiter: {} });
    mixer.limiterEnabled = false;
    mixer.input(0).fill(0.25);
    mixer.gains[0] = 0;
    const ramp = Float32Array.from(mixer.process(1));
    expect(ramp[0]).toBeCloseTo(0.25 * (1 - 1 / N), 6);
    expect(ramp[N - 1]).toBeCloseTo(0, 6);
    expect(Array.from(mixer.process(1)).every((v) => v === 0)).toBe(true);
  });

  it('rejects bad options and throws after destroy', async () => {
    await expect(Mixer.create({ maxStreams: 0 })).rejects.toThrow(RangeError);
    await expect(Mixer.create({ maxStreams: 2, frameSamples: 100 })).rejects.toThrow(
      /frameSamples/,
    );
    await expect(Mixer.create({ maxStreams: 2, limiter: { kneeDbfs: 0 } })).rejects.toThrow(
      /kneeDbfs/,
    );
    const mixer = await Mixer.create({ maxStreams: 2, frameSamples: 128 });
    expect(() => mixer.input(2)).toThrow(RangeError);
    expect(() => mixer.process(3)).toThrow(RangeError);
    mixer.destroy();
    mixer.destroy();
    expect(() => mixer.process()).toThrow(DspError);
  });
});
