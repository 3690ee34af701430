import { describe, expect, it } from 'vitest';
import { envelopeBurstLatencies, envelopeOriginMs, type TimedEnvelope } from './envelopeLatency.js';
import { rng } from './signals.js';

const RATE = 48_000;
const BLOCK = 48; // 1 ms

/**
 * A 1 ms envelope of `seconds` with a syllable every 500 ms starting at `firstMs`: a 5 ms
 * plosive spike, 10 ms of gap, then a 150 ms vowel with a rise and fall.
 */
function syllables(
  seconds: number,
  firstMs: number,
  gain = 1,
  cutMs = 0,
  noise = 0.002,
): Float32Array {
  const r = rng(3);
  const env = new Float32Array(seconds * 1000);
  for (let k = 0; k < env.length; k++) env[k] = noise * r();
  for (let t0 = firstMs; t0 + 200 < env.length; t0 += 500) {
    for (let k = 0; k < 5; k++) if (k >= cutMs) env[t0 + k] = gain * 0.3;
    for (let k = 0; k < 150; k++) {
      const at = t0 + 15 + k;
      if (at - t0 >= cutMs) env[at] = gain * 0.4 * Math.sin((Math.PI * k) / 150) + noise * r();
    }
  }
  return env;
}

/**
 * Quanta as a bursty audio thread runs them: every 10 ms, the next 480 frames in 128-frame
 * quanta, all stamped with the burst's wall-clock time (1 ms ticks).
 */
function timed(env: Float32Array, startMs: number, firstFrame: number): TimedEnvelope {
  const quantumTimes: number[] = [];
  const quantumFrames: number[] = [];
  let frame = firstFrame;
  for (let burst = 0; frame < firstFrame + env.length * BLOCK; burst++) {
    const t = Math.floor(startMs + burst * 10);
    for (; frame < firstFrame + (burst + 1) * 480; frame += 128) {
      quantumTimes.push(t);
      quantumFrames.push(frame);
    }
  }
  return {
    firstBlock: firstFrame / BLOCK,
    blockSamples: BLOCK,
    envelope: env,
    quantumTimes,
    quantumFrames,
    sampleRateHz: RATE,
  };
}

describe('envelopeBurstLatencies', () => {
  it('finds the delay of each burst despite gain and a suppressed onset', () => {
    // Sender: bursts at 100, 600, … ms of its context, whose frame 0 ran at wall time 1,000 ms.
    const sent = timed(syllables(6, 100), 1_000, 0);
    // Receiver: its context's frame 0 ran at wall time 1,237 ms; each burst arrives 73 ms after
    // it was sent (sender block s → receiver block s + 1,000 + 73 − 1,237 = s − 164), 10 dB
    // louder (AGC), without the plosive and the vowel's first 3 ms (noise suppression).
    const heard = timed(syllables(6, 436, 3.16, 18), 1_237, 0);
    const l = envelopeBurstLatencies(sent, heard);
    expect(l.length).toBeGreaterThanOrEqual(9); // 11 bursts, the first dropped, edges may go
    for (const b of l) {
      expect(Math.abs(b.latencyMs - 73)).toBeLessThanOrEqual(3);
      expect(b.correlation).toBeGreaterThan(0.9);
    }
  });

  it('leaves out bursts that never arrived, and maps blocks to wall time by the median quantum', () => {
    const sent = timed(syllables(3, 100), 5_000, 0);
    // Quanta are stamped with their burst's time, up to 8 ms after their own frame time.
    expect(envelopeOriginMs(sent)).toBeGreaterThanOrEqual(4_990);
    expect(envelopeOriginMs(sent)).toBeLessThanOrEqual(5_000);
    const silence = timed(syllables(3, 100, 0), 5_000, 0);
    expect(envelopeBurstLatencies(sent, silence)).toEqual([]);
  });

  it('rejects envelopes of different block durations', () => {
    const a = timed(syllables(1, 100), 0, 0);
    expect(() => envelopeBurstLatencies(a, { ...a, blockSamples: 96 })).toThrow(RangeError);
    expect(() => envelopeOriginMs({ ...a, quantumTimes: [] })).toThrow(RangeError);
  });
});
