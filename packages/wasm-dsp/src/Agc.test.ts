import { describe, expect, it } from 'vitest';
import {
  activeLevelDbfs,
  dbfs,
  mix,
  pinkNoise,
  scaleTo,
  speechTrack,
  whiteNoise,
} from '@concord/testing';
import { Agc, type AgcOptions } from './Agc.js';
import { DspError } from './DspError.js';
import { ScalarAgc } from './reference/ScalarAgc.js';

const N = 960;
const FS = 48_000;

/** Speech (en-gb, 400 ms pauses) at `levelDbfs` active level, pink noise 30 dB below. */
function talker(levelDbfs: number, seconds = 10): Float32Array {
  const s = speechTrack(FS * seconds, 'en-gb', 400, 2);
  const g = 10 ** ((levelDbfs - activeLevelDbfs(s)) / 20);
  const speech = s.map((v) => v * g);
  return mix(speech, scaleTo(pinkNoise(speech.length, 9), levelDbfs - 30));
}

async function run(
  x: Float32Array,
  options: AgcOptions = {},
  probability?: (frame: number) => number,
  sourceDbfs?: (frame: number) => number,
): Promise<{ out: Float32Array; gains: number[] }> {
  const agc = await Agc.create(options);
  const out = new Float32Array(x.length);
  const gains: number[] = [];
  for (let f = 0; f < x.length / N; f++) {
    agc.frame.set(x.subarray(f * N, f * N + N));
    out.set(agc.process(probability?.(f), sourceDbfs?.(f)), f * N);
    gains.push(agc.gainDb);
  }
  return { out, gains };
}

/** Level of each frame of `x` in dBFS, plus `offsetDb` (a suppressor that removed that much). */
function frameLevels(x: Float32Array, offsetDb = 0): (frame: number) => number {
  return (f) => dbfs(x, f * N, (f + 1) * N) + offsetDb;
}

/** Quiet speech (−35 dBFS active, `pauseMs` between sentences) over pink noise at `noiseDbfs`. */
function talkerOver(noiseDbfs: number, pauseMs = 400, seconds = 8): Float32Array {
  const s = speechTrack(FS * seconds, 'en-gb', pauseMs, 2);
  const g = 10 ** ((-35 - activeLevelDbfs(s)) / 20);
  return mix(
    s.map((v) => v * g),
    scaleTo(pinkNoise(s.length, 9), noiseDbfs),
  );
}

describe('Agc', () => {
  it('brings speech from −40 to −10 dBFS to −18 ± 1 dBFS within 2.5 s, never clipping', async () => {
    const levels: number[] = [];
    for (const input of [-40, -35, -30, -25, -20, -15, -10]) {
      const { out } = await run(talker(input));
      const settled = out.subarray(FS * 2.5);
      const level = activeLevelDbfs(settled);
      levels.push(level);
      expect(
        Math.abs(level + 18),
        `input ${input} dBFS -> ${level.toFixed(2)}`,
      ).toBeLessThanOrEqual(1);
      // Every second after settling is on target too (no slow drift or pumping).
      for (let s = 3; s + 1 <= 10; s++) {
        const second = activeLevelDbfs(out.subarray(FS * s, FS * (s + 1)));
        expect(Math.abs(second + 18), `input ${input}, second ${s}`).toBeLessThanOrEqual(2);
      }
      const peak = out.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(peak).toBeLessThan(1);
    }
    // Spread across the 30 dB input range.
    expect(Math.max(...levels) - Math.min(...levels)).toBeLessThan(0.5);
  });

  it('does not raise the gain on pure noise, nor in the pauses after speech', async () => {
    for (const noise of [
      scaleTo(pinkNoise(FS * 10, 4), -45),
      scaleTo(whiteNoise(FS * 10, 4), -30),
    ]) {
      const { gains } = await run(noise);
      expect(Math.max(...gains)).toBeLessThanOrEqual(0);
    }
    // Quiet speech for 5 s, then 10 s of its background noise alone.
    const speech = talker(-35, 5);
    const tail = scaleTo(pinkNoise(FS * 10, 11), -65);
    const x = new Float32Array(speech.length + tail.length);
    x.set(speech);
    x.set(tail, speech.length);
    const { gains } = await run(x);
    const atEnd = gains[5 * 50 - 1]!;
    expect(atEnd).toBeGreaterThan(10);
    expect(Math.max(...gains.slice(5 * 50))).toBeLessThanOrEqual(atEnd + 0.5);
  });

  it("is gated by the caller's speech probability when one is given", async () => {
    const x = talker(-35, 4);
    const { gains: never } = await run(x, {}, () => 0);
    expect(Math.max(...never)).toBe(0);
    const { gains: always } = await run(x, {}, () => 1);
    expect(always.at(-1)!).toBeGreaterThan(10);
  });

  it('caps the gain so the background comes out no louder than before suppression', async () => {
    // Noise 10 dB under the talker that nothing removed (the source is the input itself): the
    // talker wants +17 dB, but the background may not rise, so the gain stays at 0 dB.
    const loud = talkerOver(-45);
    const capped = await run(loud, {}, undefined, frameLevels(loud));
    expect(Math.max(...capped.gains)).toBeLessThanOrEqual(0.01);
    // Without the source level (no cap) the same input gets the full gain, as before.
    const free = await run(loud);
    expect(free.gains.at(-1)!).toBeGreaterThan(12);
    // The same noise after a suppressor that took 30 dB off it: room for the full gain again.
    const cleaned = await run(loud, {}, undefined, frameLevels(loud, 30));
    expect(Math.abs(cleaned.gains.at(-1)! - free.gains.at(-1)!)).toBeLessThan(0.5);
  });

  it('lets a background below maxOutputNoiseDbfs rise to that level, and no further', async () => {
    // Background at −80 dBFS with nothing removed: it may come up to 2 dB (the cap's safety
    // margin) under −60 dBFS (the default), so 18 dB of gain, and the talker gets the 17 it
    // wants; with maxOutputNoiseDbfs −75, 3 dB, give or take the floor's bias (a minimum of the
    // power smoothed over ~60 ms sits 1–2 dB under the background's mean, and needs pauses of
    // about a second to get down there).
    const quiet = talkerOver(-80, 1200);
    const { gains } = await run(quiet, {}, undefined, frameLevels(quiet));
    expect(gains.at(-1)!).toBeGreaterThan(15);
    const strict = await run(quiet, { maxOutputNoiseDbfs: -75 }, undefined, frameLevels(quiet));
    expect(Math.max(...strict.gains.slice(100))).toBeLessThanOrEqual(5);
    expect(strict.gains.at(-1)!).toBeGreaterThan(2);
  });

  it('keeps gain within [minGainDb, maxGainDb]', async () => {
    const { gains: quiet } = await run(talker(-60, 4), {
      maxGainDb: 20,
      vad: { speechFloorDbfs: -100 },
    });
    expect(Math.max(...quiet)).toBeLessThanOrEqual(20 + 1e-9);
    expect(quiet.at(-1)!).toBeGreaterThan(19);
    const { gains: loud } = await run(talker(-3, 4), { minGainDb: -6 });
    expect(Math.min(...loud)).toBeGreaterThanOrEqual(-6 - 1e-9);
  });

  it.each([
    ['without', undefined],
    ['with', 6],
  ] as const)(
    'matches the scalar reference sample for sample (%s the noise cap)',
    async (_, off) => {
      const x = talker(-30, 6);
      const agc = await Agc.create();
      const ref = new ScalarAgc(N);
      const frame = new Float32Array(N);
      const source = off === undefined ? undefined : frameLevels(x, off);
      let worst = 0;
      for (let f = 0; f < x.length / N; f++) {
        agc.frame.set(x.subarray(f * N, f * N + N));
        frame.set(x.subarray(f * N, f * N + N));
        const a = agc.process(undefined, source?.(f));
        ref.process(frame, -1, true, source?.(f));
        if (source) {
          expect(agc.noiseGainCapDb).toBeCloseTo(ref.gainCapDb, 9);
          expect(agc.backgroundAttenuationDb).toBeCloseTo(ref.attenuationDb, 9);
        }
        for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(a[i]! - frame[i]!));
        expect(agc.gainDb).toBeCloseTo(ref.gainDb, 9);
      }
      expect(worst).toBeLessThan(1e-6);
    },
  );

  it('rejects bad options and throws after destroy', async () => {
    await expect(Agc.create({ targetDbfs: 3 })).rejects.toThrow(/targetDbfs/);
    await expect(Agc.create({ maxGainDb: -1 })).rejects.toThrow(/maxGainDb/);
    await expect(Agc.create({ attackMs: 0 })).rejects.toThrow(/attackMs/);
    await expect(Agc.create({ frameSamples: 100 })).rejects.toThrow(/frameSamples/);
    await expect(Agc.create({ maxOutputNoiseDbfs: 3 })).rejects.toThrow(/maxOutputNoiseDbfs/);
    const agc = await Agc.create();
    expect(() => agc.process(-0.5)).toThrow(RangeError);
    expect(() => agc.process(0.5, Number.NaN)).toThrow(RangeError);
    agc.destroy();
    agc.destroy();
    expect(() => agc.process()).toThrow(DspError);
  });
});
