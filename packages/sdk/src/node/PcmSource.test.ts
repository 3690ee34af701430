import { FRAME_FLAG_SPEAKING, FRAME_SAMPLES } from '@concord/audio-worklet';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CapturedFrame } from '../media/LocalAudio.js';
import { PcmSource, resampleTo48k } from './PcmSource.js';

const tone = (samples: number, amp: number, hz = 440, rate = 48_000): Float32Array =>
  Float32Array.from({ length: samples }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate));

describe('PcmSource', () => {
  it('cuts queued audio into 960-sample frames in order, then silence', () => {
    const source = new PcmSource();
    const ramp = Float32Array.from({ length: 2_500 }, (_, i) => i / 10_000);
    source.play(ramp);
    const frames: Float32Array[] = [];
    source.onFrame((f) => frames.push(f.samples.slice()));
    for (let i = 0; i < 4; i++) source.pull();
    expect(frames.map((f) => f.length)).toEqual([960, 960, 960, 960]);
    expect(frames[0]![0]).toBe(0);
    expect(frames[1]![0]).toBeCloseTo(960 / 10_000, 6);
    expect(frames[2]![2_500 - 1_920 - 1]).toBeCloseTo(2_499 / 10_000, 6);
    expect(frames[2]![2_500 - 1_920]).toBe(0); // the rest of the last frame is silence
    expect(frames[3]!.every((v) => v === 0)).toBe(true);
    expect(source.queuedSamples).toBe(0);
  });

  it('flags speech by level, reports it once per change and says when the queue drains', () => {
    const source = new PcmSource({ voiceActivityDbfs: -45 });
    const metas: CapturedFrame['meta'][] = [];
    source.onFrame((f) => metas.push({ ...f.meta }));
    const activity: boolean[] = [];
    let drained = 0;
    source.on('voiceActivity', (a) => activity.push(a));
    source.on('drained', () => drained++);
    source.play(tone(2 * FRAME_SAMPLES, 0.1)); // −23 dBFS
    source.play(tone(FRAME_SAMPLES, 0.001)); // −63 dBFS: below the threshold
    for (let i = 0; i < 4; i++) source.pull();
    expect(metas.map((m) => m.flags & FRAME_FLAG_SPEAKING)).toEqual([1, 1, 0, 0]);
    expect(metas[0]!.levelDbfs).toBeCloseTo(20 * Math.log10(0.1 / Math.SQRT2), 1);
    expect(metas[3]!.levelDbfs).toBe(-120);
    expect(metas.map((m) => m.seq)).toEqual([0, 1, 2, 3]);
    expect(activity).toEqual([true, false]);
    expect(drained).toBe(1);
  });

  describe('clock', () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());

    it('sends one frame per 20 ms without drift, and none after stop', () => {
      const source = new PcmSource({ now: () => Date.now() });
      let frames = 0;
      source.onFrame(() => frames++);
      source.start();
      source.start(); // idempotent
      vi.advanceTimersByTime(1_000);
      expect(frames).toBe(51); // t = 0, 20, …, 1000
      source.stop();
      vi.advanceTimersByTime(1_000);
      expect(frames).toBe(51);
    });

    it('skips ahead after a long stall instead of bursting the backlog', () => {
      let nowMs = 0;
      const source = new PcmSource({ now: () => nowMs });
      let frames = 0;
      source.onFrame(() => frames++);
      source.start();
      expect(frames).toBe(1);
      nowMs = 5_000; // the event loop was blocked for 5 s
      vi.advanceTimersByTime(20);
      expect(frames).toBe(2);
      source.close();
    });
  });

  it('rejects bad input with errors naming the argument, and use after close', () => {
    expect(() => new PcmSource({ voiceActivityDbfs: 3 })).toThrow(/voiceActivityDbfs/);
    const source = new PcmSource();
    expect(() => source.play([0.1] as unknown as Float32Array)).toThrow(TypeError);
    source.close();
    expect(() => source.play(new Float32Array(10))).toThrow(/closed/);
    expect(() => source.start()).toThrow(/closed/);
  });
});

describe('resampleTo48k', () => {
  it('keeps a 44.1 kHz tone’s frequency and level and scales the length', async () => {
    const x = tone(44_100, 0.5, 1_000, 44_100);
    const y = await resampleTo48k(x, 44_100);
    expect(y.length).toBe(48_000);
    // Frequency by zero crossings over the middle 0.5 s, level by RMS.
    const mid = y.subarray(12_000, 36_000);
    let crossings = 0;
    for (let i = 1; i < mid.length; i++) if (mid[i - 1]! < 0 !== mid[i]! < 0) crossings++;
    expect(crossings / 2 / 0.5).toBeCloseTo(1_000, -1);
    const rms = Math.sqrt(mid.reduce((s, v) => s + v * v, 0) / mid.length);
    expect(rms).toBeCloseTo(0.5 / Math.SQRT2, 2);
  });

  it('returns 48 kHz input unchanged and rejects a rate out of range', async () => {
    const x = new Float32Array(10);
    expect(await resampleTo48k(x, 48_000)).toBe(x);
    await expect(resampleTo48k(x, 1_000)).rejects.toThrow(/sampleRateHz/);
  });
});
