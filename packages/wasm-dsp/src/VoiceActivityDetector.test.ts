import { describe, expect, it } from 'vitest';
import { dbfs, mix, pinkNoise, scaleTo, speechTrack, tone, whiteNoise } from '@concord/testing';
import { DspError } from './DspError.js';
import { ScalarVad } from './reference/ScalarVad.js';
import { vadParams } from './vadOptions.js';
import { VoiceActivityDetector } from './VoiceActivityDetector.js';

const N = 960;
const FRAMES_PER_S = 50;

/** Clean speech at −26 dBFS with 600 ms pauses and per-frame ground truth. */
function scenario(seconds: number): { clean: Float32Array; active: boolean[]; pause: boolean[] } {
  const clean = scaleTo(speechTrack(48_000 * seconds, 'en-us', 600), -26);
  const levels = Array.from({ length: clean.length / N }, (_, f) => dbfs(clean, f * N, f * N + N));
  const max = Math.max(...levels);
  return { clean, active: levels.map((l) => l > max - 20), pause: levels.map((l) => l < max - 60) };
}

async function run(x: Float32Array): Promise<{ p: number[]; speaking: boolean[] }> {
  const v = await VoiceActivityDetector.create();
  const p: number[] = [];
  const speaking: boolean[] = [];
  for (let f = 0; f < x.length / N; f++) {
    v.frame.set(x.subarray(f * N, f * N + N));
    v.process();
    p.push(v.speechProbability);
    speaking.push(v.speaking);
  }
  return { p, speaking };
}

function rate(flags: boolean[], hits: (i: number) => boolean): number {
  const idx = flags.flatMap((f, i) => (f ? [i] : []));
  return idx.filter(hits).length / idx.length;
}

describe('VoiceActivityDetector', () => {
  it('meters RMS and peak in dBFS (full-scale sine: −3.01 dBFS RMS, 0 dBFS peak)', async () => {
    const v = await VoiceActivityDetector.create();
    v.frame.set(tone(N, 1000, 1));
    v.process();
    expect(v.levelDbfs).toBeCloseTo(-3.0103, 3);
    expect(v.peakDbfs).toBeCloseTo(0, 3);
    v.frame.set(scaleTo(whiteNoise(N, 1), -37));
    v.process();
    expect(v.levelDbfs).toBeCloseTo(-37, 4);
    v.frame.fill(0);
    v.process();
    expect(v.levelDbfs).toBe(-120);
  });

  it('matches the scalar reference frame for frame', async () => {
    const { clean } = scenario(6);
    const x = mix(clean, scaleTo(pinkNoise(clean.length, 2), -40));
    const v = await VoiceActivityDetector.create();
    const ref = new ScalarVad(vadParams(N));
    for (let f = 0; f < x.length / N; f++) {
      const frame = x.subarray(f * N, f * N + N);
      v.frame.set(frame);
      v.process();
      ref.process(frame);
      expect(v.levelDbfs).toBeCloseTo(ref.levelDbfs, 9);
      expect(v.noiseFloorDbfs).toBeCloseTo(ref.noiseDbfs, 9);
      expect(v.speechProbability).toBeCloseTo(ref.probability, 9);
      expect(v.speaking).toBe(ref.speaking);
    }
  });

  it('detects speech in clean and noisy input and stays quiet in pauses', async () => {
    const { clean, active, pause } = scenario(12);
    const cases = [
      { name: 'clean', x: clean, detect: 0.95 },
      {
        name: 'pink 20 dB SNR',
        x: mix(clean, scaleTo(pinkNoise(clean.length, 5), -46)),
        detect: 0.95,
      },
      {
        name: 'white 10 dB SNR',
        x: mix(clean, scaleTo(whiteNoise(clean.length, 5), -36)),
        detect: 0.85,
      },
      {
        name: 'pink 10 dB SNR',
        x: mix(clean, scaleTo(pinkNoise(clean.length, 5), -36)),
        detect: 0.75,
      },
    ];
    for (const c of cases) {
      const { p } = await run(c.x);
      expect(
        rate(active, (i) => p[i]! >= 0.5),
        c.name,
      ).toBeGreaterThanOrEqual(c.detect);
      expect(
        rate(pause, (i) => p[i]! >= 0.5),
        c.name,
      ).toBeLessThanOrEqual(0.02);
    }
  });

  it('never reports speaking in steady noise once the floor is learnt', async () => {
    for (const noise of [whiteNoise(48_000 * 10, 8), pinkNoise(48_000 * 10, 8)]) {
      for (const level of [-60, -40, -20]) {
        const { speaking } = await run(scaleTo(noise, level));
        expect(speaking.slice(FRAMES_PER_S / 2).some(Boolean), `${level} dBFS`).toBe(false);
      }
    }
  });

  it('holds speaking for the hangover after the last speech frame, then drops it', async () => {
    const v = await VoiceActivityDetector.create({ hangoverMs: 200 });
    const quiet = scaleTo(whiteNoise(N, 1), -60);
    const loud = scaleTo(whiteNoise(N, 2), -20);
    for (let f = 0; f < 20; f++) {
      v.frame.set(quiet);
      v.process();
    }
    v.frame.set(loud);
    v.process();
    expect(v.speaking).toBe(true);
    const held: boolean[] = [];
    for (let f = 0; f < 15; f++) {
      v.frame.set(quiet);
      v.process();
      held.push(v.speaking);
    }
    // 200 ms of 20 ms frames; the band filter's ring-out may count as speech for one more frame.
    expect(held.slice(0, 10).every(Boolean)).toBe(true);
    expect(held.slice(11).some(Boolean)).toBe(false);
  });

  it("uses the caller's speech probability (RNNoise) when given", async () => {
    const v = await VoiceActivityDetector.create({ hangoverMs: 0 });
    v.frame.fill(0);
    v.process(0.9);
    expect(v.speechProbability).toBeCloseTo(0.9, 12);
    expect(v.speaking).toBe(true);
    v.frame.set(scaleTo(whiteNoise(N, 3), -10));
    v.process(0.1);
    expect(v.speaking).toBe(false);
    expect(() => v.process(1.5)).toThrow(RangeError);
  });

  it('rejects bad options and throws after destroy', async () => {
    await expect(VoiceActivityDetector.create({ frameSamples: 0 })).rejects.toThrow(/frameSamples/);
    await expect(VoiceActivityDetector.create({ hangoverMs: -1 })).rejects.toThrow(/hangoverMs/);
    const v = await VoiceActivityDetector.create();
    v.destroy();
    v.destroy();
    expect(() => v.process()).toThrow(DspError);
    expect(() => v.levelDbfs).toThrow(DspError);
  });
});
