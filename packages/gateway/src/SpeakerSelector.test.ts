import { MediaFlags } from '@concord/protocol';
import { describe, expect, it } from 'vitest';
import {
  SPEAKER_HYSTERESIS_DB,
  SPEAKER_MIN_HOLD_MS,
  SPEAKER_STALE_MS,
  newSpeakerState,
  SpeakerSelector,
} from './SpeakerSelector.js';

const SPEECH = MediaFlags.Speech;
const FRAME_MS = 20;

/** Streams named by letter; `levels` maps each to its −dBov level (0 loudest, 127 silent). */
function room(maxSpeakers: number, names: string[]) {
  const selector = new SpeakerSelector(maxSpeakers);
  const streams = new Map(names.map((n) => [n, newSpeakerState()]));
  let now = 1_000;
  const forwarded = new Map<string, number>();
  /** Every listed stream sends one frame per 20 ms tick for `ms`, in the given order. */
  function run(
    ms: number,
    levels: Record<string, number | [level: number, flags: number]>,
    flags: number = SPEECH,
  ): void {
    for (let t = 0; t < ms; t += FRAME_MS) {
      for (const [name, spec] of Object.entries(levels)) {
        const [level, f] = typeof spec === 'number' ? [spec, flags] : spec;
        if (selector.onFrame(streams.get(name)!, f, level, now))
          forwarded.set(name, (forwarded.get(name) ?? 0) + 1);
      }
      now += FRAME_MS;
    }
  }
  const speakers = (): string[] =>
    names.filter((n) => selector.speakers.includes(streams.get(n)!)).sort();
  const reset = (): void => forwarded.clear();
  return {
    selector,
    streams,
    run,
    speakers,
    forwarded,
    reset,
    advance: (ms: number) => (now += ms),
  };
}

describe('SpeakerSelector', () => {
  it('forwards everyone while there are no more streams than slots', () => {
    const r = room(3, ['a', 'b', 'c']);
    r.run(200, { a: 90, b: 100, c: 127 });
    expect(r.speakers()).toEqual(['a', 'b', 'c']);
    expect([...r.forwarded.values()]).toEqual([10, 10, 10]);
  });

  it('settles on the top 3 of 4 by level, however the slots were first filled', () => {
    const r = room(3, ['quiet', 'a', 'b', 'loud']);
    // The quietest sends first and takes a free slot; the loudest arrives last.
    r.run(2_000, { quiet: 70, a: 40, b: 30, loud: 10 });
    expect(r.speakers()).toEqual(['a', 'b', 'loud']);
    r.reset();
    r.run(1_000, { quiet: 70, a: 40, b: 30, loud: 10 });
    expect(r.forwarded.get('quiet')).toBeUndefined();
    expect(r.forwarded.get('loud')).toBe(50);
  });

  it('keeps a speaking holder for the minimum hold, then yields to a louder challenger', () => {
    const r = room(1, ['holder', 'loud']);
    r.run(20, { holder: 60 });
    r.run(SPEAKER_MIN_HOLD_MS - 40, { holder: 60, loud: 10 });
    expect(r.speakers()).toEqual(['holder']);
    r.run(100, { holder: 60, loud: 10 });
    expect(r.speakers()).toEqual(['loud']);
  });

  it('does not flap between two streams within the hysteresis margin', () => {
    const r = room(1, ['a', 'b']);
    // Levels alternate around each other, never more than the margin apart.
    let swaps = 0;
    let last = '';
    for (let i = 0; i < 200; i++) {
      const wobble = i % 10 < 5 ? 2 : -2;
      r.run(20, { a: 40 + wobble, b: 40 - wobble });
      const now = r.speakers().join();
      if (now !== last) swaps++;
      last = now;
    }
    expect(SPEAKER_HYSTERESIS_DB).toBeGreaterThan(4);
    expect(swaps).toBe(1); // the first assignment only
  });

  it('lets a louder stream replace one that fell silent (non-speech frames decay the level)', () => {
    const r = room(1, ['a', 'b']);
    r.run(1_000, { a: 30 });
    // a keeps sending, but without speech (VAD off): its level decays towards silence.
    r.run(300, { a: 30, b: 50 }, 0);
    expect(r.speakers()).toEqual(['a']); // b has no speech either: nobody is louder
    r.run(200, { a: 127 }, 0);
    r.run(60, { b: 50 });
    expect(r.speakers()).toEqual(['b']);
  });

  it('treats DTX frames as silence even when flagged speech', () => {
    const r = room(1, ['a', 'b']);
    r.run(400, { a: 20 });
    // a switches to DTX (comfort noise every 400 ms) while b speaks at a lower level.
    for (let i = 0; i < 5; i++) {
      r.run(20, { a: [20, MediaFlags.Speech | MediaFlags.Dtx], b: 50 });
      r.run(380, { b: 50 });
    }
    expect(r.speakers()).toEqual(['b']);
  });

  it('frees a slot held by a stream that stopped sending', () => {
    const r = room(1, ['gone', 'next']);
    r.run(400, { gone: 0 });
    r.advance(SPEAKER_STALE_MS + 1);
    // Even a silent newcomer takes the slot of a stream gone quiet for longer than the stale time.
    r.run(20, { next: 127 }, 0);
    expect(r.speakers()).toEqual(['next']);
  });

  it('releases the slot of a removed stream', () => {
    const r = room(2, ['a', 'b', 'c']);
    r.run(100, { a: 10, b: 10, c: 10 });
    expect(r.speakers()).toEqual(['a', 'b']);
    r.selector.remove(r.streams.get('a')!);
    r.run(20, { c: 10 });
    expect(r.speakers()).toEqual(['b', 'c']);
  });

  it('rejects a non-positive speaker count', () => {
    expect(() => new SpeakerSelector(0)).toThrow(RangeError);
    expect(() => new SpeakerSelector(1.5)).toThrow(RangeError);
  });

  it('smooths 10 ms packets over the same time as 20 ms ones (weighted by packet duration)', () => {
    const levelAfter = (frameMs: number): number => {
      const selector = new SpeakerSelector(1);
      const s = newSpeakerState();
      let now = 0;
      for (let t = 0; t < 400; t += frameMs, now += frameMs)
        selector.onFrame(s, SPEECH, 20, now, frameMs);
      for (let t = 0; t < 200; t += frameMs, now += frameMs)
        selector.onFrame(s, 0, 127, now, frameMs);
      return s.loudnessDb;
    };
    const at20 = levelAfter(20);
    expect(at20).toBeGreaterThan(20); // released part of the way over 200 ms, not all of it
    expect(at20).toBeLessThan(60);
    expect(Math.abs(levelAfter(10) - at20)).toBeLessThan(1e-9);
  });
});
