// What a page heard, judged from a recording: a tone at a frequency and level, nothing at all,
// or another page's bursts within a latency bound. The pure half of the QA matchers
// (`@concord/testing/playwright` records in the page and calls these). Node or browser;
// allocates (analysis, not audio-thread code).
import { fitSine, measureFrequencyHz } from './analysis.js';
import { pairBurstLatencies, percentiles } from './burstTiming.js';
import { detectOnsets } from './analysis.js';
import { dbfs } from './signals.js';

/** A mono recording and when its first sample was heard (wall clock shared by the pages). */
export interface Recording {
  /** Samples in [−1, 1]. */
  samples: Float32Array;
  /** Sample rate, Hz. */
  sampleRateHz: number;
  /** Wall-clock time of sample 0, ms (`performance.timeOrigin + performance.now()` in the page). */
  startMs: number;
}

/** Options of {@link judgeTone}. */
export interface ToneOptions {
  /** Quietest tone level accepted, dBFS RMS (default −50). */
  minLevelDbfs?: number;
  /** Loudest tone level accepted, dBFS RMS (default 0). */
  maxLevelDbfs?: number;
  /** Largest frequency error accepted, Hz (default 5). */
  toleranceHz?: number;
  /** Share of a block's power the tone must hold for the block to count (default 0.5). */
  minToneShare?: number;
}

/** What {@link judgeTone} found. */
export interface ToneJudgement {
  /** The tone is there, at the frequency and within the level range. */
  heard: boolean;
  /** Median RMS level of the tone in the blocks where it dominates, dBFS (−Infinity: none). */
  levelDbfs: number;
  /** Frequency measured on the longest run of tone blocks, Hz (NaN: none long enough). */
  frequencyHz: number;
  /** Seconds of 20 ms blocks where the tone dominates. */
  toneSeconds: number;
  /** Loudest 20 ms block of the recording, dBFS. */
  peakDbfs: number;
  /** Why it was not heard (empty when heard). */
  reason: string;
}

const BLOCK_MS = 20;

/**
 * Judges whether `rec` holds a tone at `freqHz`: each 20 ms block is fitted with a sine at
 * `freqHz`; blocks where it holds at least `minToneShare` of the power are tone blocks; their
 * median level must lie in [`minLevelDbfs`, `maxLevelDbfs`] and the frequency measured on the
 * longest run of them (phase drift of 10 ms fits, {@link measureFrequencyHz}) within
 * `toleranceHz`.
 */
export function judgeTone(
  rec: Recording,
  freqHz: number,
  options: ToneOptions = {},
): ToneJudgement {
  const { minLevelDbfs = -50, maxLevelDbfs = 0, toleranceHz = 5, minToneShare = 0.5 } = options;
  const block = Math.round((rec.sampleRateHz * BLOCK_MS) / 1000);
  const levels: number[] = [];
  let peakDbfs = -Infinity;
  let run: [number, number] = [0, 0];
  let best: [number, number] = [0, 0];
  for (let at = 0; at + block <= rec.samples.length; at += block) {
    const x = rec.samples.subarray(at, at + block);
    const total = dbfs(x);
    peakDbfs = Math.max(peakDbfs, total);
    const { amplitude } = fitSine(x, freqHz, rec.sampleRateHz);
    const toneDbfs = 20 * Math.log10(Math.max(amplitude / Math.SQRT2, 1e-10));
    const share = 10 ** ((toneDbfs - total) / 10);
    if (total > -90 && share >= minToneShare) {
      levels.push(toneDbfs);
      if (run[1] !== at) run = [at, at];
      run[1] = at + block;
      if (run[1] - run[0] > best[1] - best[0]) best = [run[0], run[1]];
    }
  }
  const levelDbfs = levels.length ? percentiles(levels, [0.5])[0]! : -Infinity;
  const fitBlock = Math.round(rec.sampleRateHz / 100);
  const frequencyHz =
    best[1] - best[0] >= 3 * fitBlock
      ? measureFrequencyHz(
          rec.samples.subarray(best[0], best[1]),
          freqHz,
          fitBlock,
          rec.sampleRateHz,
        )
      : Number.NaN;
  const toneSeconds = (levels.length * BLOCK_MS) / 1000;
  let reason = '';
  if (levels.length === 0)
    reason = `no ${freqHz} Hz tone in ${(rec.samples.length / rec.sampleRateHz).toFixed(1)} s (loudest block ${peakDbfs.toFixed(1)} dBFS)`;
  else if (levelDbfs < minLevelDbfs || levelDbfs > maxLevelDbfs)
    reason = `the ${freqHz} Hz tone is at ${levelDbfs.toFixed(1)} dBFS, outside [${minLevelDbfs}, ${maxLevelDbfs}] dBFS`;
  else if (!(Math.abs(frequencyHz - freqHz) <= toleranceHz))
    reason = Number.isNaN(frequencyHz)
      ? `the ${freqHz} Hz tone never lasts 30 ms: its frequency cannot be measured`
      : `the tone is at ${frequencyHz.toFixed(1)} Hz, not ${freqHz} ± ${toleranceHz} Hz`;
  return { heard: reason === '', levelDbfs, frequencyHz, toneSeconds, peakDbfs, reason };
}

/** What {@link judgeSilence} found. */
export interface SilenceJudgement {
  /** No 20 ms block reached `thresholdDbfs`. */
  silent: boolean;
  /** Loudest 20 ms block, dBFS. */
  peakDbfs: number;
  /** Seconds judged. */
  seconds: number;
}

/** Judges whether `rec` is silent: every 20 ms block below `thresholdDbfs` (default −60). */
export function judgeSilence(rec: Recording, thresholdDbfs = -60): SilenceJudgement {
  const block = Math.round((rec.sampleRateHz * BLOCK_MS) / 1000);
  let peakDbfs = -Infinity;
  for (let at = 0; at + block <= rec.samples.length; at += block)
    peakDbfs = Math.max(peakDbfs, dbfs(rec.samples, at, at + block));
  return {
    silent: !(peakDbfs >= thresholdDbfs),
    peakDbfs,
    seconds: rec.samples.length / rec.sampleRateHz,
  };
}

/** Options of {@link judgeLatency}. */
export interface LatencyOptions {
  /** Onset threshold in both recordings, dBFS over 1 ms blocks (default −40). */
  thresholdDbfs?: number;
  /** Quiet time that separates bursts, ms (default 150). */
  minGapMs?: number;
  /** Longest latency that can pair a sent burst with a heard one, ms (default 1,000). */
  maxPairingMs?: number;
}

/** What {@link judgeLatency} found. */
export interface LatencyJudgement {
  /** Each sent burst heard, with its latency (ms). */
  latenciesMs: number[];
  /** Median and 95th percentile latency, ms (NaN when nothing paired). */
  p50Ms: number;
  p95Ms: number;
  /** Bursts found in the sender's and the listener's recording. */
  sentBursts: number;
  heardBursts: number;
}

/**
 * Pairs the bursts the sender's recording holds (e.g. its microphone) with those the
 * listener's recording holds (its playback output), both on the shared wall clock, and
 * returns the latencies. Bursts must be further apart than the latency for an unambiguous
 * pairing (e.g. 100 ms bursts every 500 ms). Accuracy: the recorders' timestamps, ±10 ms.
 */
export function judgeLatency(
  sent: Recording,
  heard: Recording,
  options: LatencyOptions = {},
): LatencyJudgement {
  const { thresholdDbfs = -40, minGapMs = 150, maxPairingMs = 1_000 } = options;
  const onsetsMs = (rec: Recording): number[] =>
    detectOnsets(rec.samples, {
      thresholdDbfs,
      blockSamples: Math.round(rec.sampleRateHz / 1000),
      minGapSamples: Math.round((rec.sampleRateHz * minGapMs) / 1000),
    })
      .filter((o) => o.startSample > 0) // a burst cut by the start of the recording
      .map((o) => rec.startMs + (o.startSample / rec.sampleRateHz) * 1000);
  const sentMs = onsetsMs(sent);
  const heardMs = onsetsMs(heard);
  const latenciesMs = pairBurstLatencies(sentMs, heardMs, {
    maxLatencyMs: maxPairingMs,
    dropFirst: 0,
  }).map((p) => p.latencyMs);
  const [p50Ms, p95Ms] = percentiles(latenciesMs, [0.5, 0.95]) as [number, number];
  return { latenciesMs, p50Ms, p95Ms, sentBursts: sentMs.length, heardBursts: heardMs.length };
}
