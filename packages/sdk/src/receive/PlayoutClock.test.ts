import { AudioClock } from '@concord/audio-worklet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AudioPlayoutClock, TimerPlayoutClock } from './PlayoutClock.js';

afterEach(() => {
  vi.useRealTimers();
});

const settle = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('AudioPlayoutClock', () => {
  it('ticks after render quanta of the shared clock and stops when told', async () => {
    const audio = AudioClock.allocate(true);
    expect(AudioPlayoutClock.supported(audio)).toBe(true);
    const clock = new AudioPlayoutClock(new AudioClock(audio.buffer), () => 0, 5_000);
    let ticks = 0;
    clock.start(() => ticks++);
    await settle();
    expect(ticks).toBe(0); // no quantum yet, and the idle timeout is long
    for (let q = 0; q < 3; q++) {
      audio.tick(); // the playback processor's quantum
      await settle();
    }
    expect(ticks).toBe(3);
    clock.stop();
    audio.tick();
    await settle();
    expect(ticks).toBe(3);
  });

  it('still ticks every idle timeout when the audio thread stops (suspended context)', async () => {
    const audio = AudioClock.allocate(true);
    const clock = new AudioPlayoutClock(audio, () => 0, 10);
    let ticks = 0;
    clock.start(() => ticks++);
    await settle(80);
    clock.stop();
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it('a restart ends the previous loop (one tick per quantum, not two)', async () => {
    const audio = AudioClock.allocate(true);
    const clock = new AudioPlayoutClock(audio, () => 0, 5_000);
    let ticks = 0;
    clock.start(() => ticks++);
    clock.start(() => ticks++);
    await settle();
    audio.tick();
    await settle();
    clock.stop();
    expect(ticks).toBe(1);
  });

  it('is not supported without shared memory', () => {
    expect(AudioPlayoutClock.supported(AudioClock.allocate(false))).toBe(false);
  });
});

describe('TimerPlayoutClock', () => {
  it('ticks every period and stops when told', async () => {
    vi.useFakeTimers();
    const clock = new TimerPlayoutClock(20, () => Date.now());
    const at: number[] = [];
    const t0 = Date.now();
    clock.start((now) => at.push(now - t0));
    await vi.advanceTimersByTimeAsync(200);
    expect(at).toEqual([20, 40, 60, 80, 100, 120, 140, 160, 180, 200]);
    clock.stop();
    await vi.advanceTimersByTimeAsync(100);
    expect(at).toHaveLength(10);
  });
});
