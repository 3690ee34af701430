// Capture in real Chromium: fake-microphone WAVs (44.1 kHz, generated here) through the SDK's
// capture worklet, measured on the 48 kHz frames `localAudio.onFrame` hands to the transport.
// Browser processing is off in every test (`browserFallback: false`): its AGC would double
// the level. Measured numbers are printed (and attached as annotations) for the closing note.
import { expect, test } from '@playwright/test';
import { dbfs, scaleTo, tone, whiteNoise } from '@concord/testing';
import {
  alignToLoop,
  decodeSamples,
  fitSine,
  frameLevels,
  frameRms,
  measureFrequencyHz,
  powerMeanDb,
  snrDb,
  zeroCrossings,
  type HarnessEvent,
  type Recording,
} from './support/analysis.js';
import type { Stages } from './support/harness.js';
import {
  launchWithWav,
  quantize16,
  speechBursts,
  WAV_FRAME_SAMPLES,
  WAV_RATE_HZ,
  writeWav,
  type SpeechLayout,
} from './support/wav.js';
import { note } from './support/note.js';

const ALL_OFF: Stages = { aec: false, ns: false, agc: false, vad: false };
const NS_VAD: Stages = { aec: false, ns: true, agc: false, vad: true };
// Frames at the start of capture left out of signal checks: the resampler's and the fake
// device's start-up (a few ms) must not count against the steady state.
const SETTLE_FRAMES = 10;
const FRAME_MS = 20;

/** A 1 kHz sine at `levelDbfs` (RMS), whole periods (441 samples = 10) so the loop is seamless. */
function tone1k(seconds: number, levelDbfs: number): Float32Array {
  return scaleTo(tone(seconds * WAV_RATE_HZ, 1000, 1, WAV_RATE_HZ), levelDbfs);
}

/** Per-frame facts of a looping speech layout: clean level and whether the frame is speech. */
function layoutFrames(layout: SpeechLayout): { rms: number[]; levels: number[] } {
  const rms = frameRms(layout.samples, WAV_FRAME_SAMPLES);
  return { rms, levels: rms.map((r) => 20 * Math.log10(Math.max(r, 1e-10))) };
}

/** `x` scaled so its active-speech level (20 ms frames within 20 dB of the loudest) is `levelDbfs`. */
function scaleActive(x: Float32Array, levelDbfs: number): Float32Array {
  const levels = frameLevels(x, WAV_FRAME_SAMPLES);
  const max = Math.max(...levels);
  const gain = 10 ** ((levelDbfs - powerMeanDb(levels.filter((l) => l > max - 20))) / 20);
  return x.map((v) => v * gain);
}

test('with every stage off a 1 kHz tone passes through unchanged: level, frequency, SNR', async () => {
  const wav = quantize16(tone1k(2, -20));
  const wavDbfs = dbfs(wav);
  // The file itself is only as clean as 16-bit PCM: its SNR against the ideal sine bounds ours.
  const wavSnr = snrDb(wav, fitSine(wav, 1000, WAV_RATE_HZ).residual);
  const { browser, page } = await launchWithWav(writeWav('tone-1k-20dbfs', wav));
  try {
    const facts = await page.evaluate(
      (stages) => window.audioHarness.startCapture({ stages }),
      ALL_OFF,
    );
    expect(facts.contextRateHz).toBe(44_100);
    expect(facts.crossOriginIsolated).toBe(true);
    expect(facts.trackSettings).toMatchObject({
      echoCancellation: false,
      noiseSuppression: false,
      autoGainControl: false,
    });
    await page.evaluate((n) => window.audioHarness.waitFrames(n), SETTLE_FRAMES);
    // The 16-bit file limits the SNR to ~81 dB at −20 dBFS; the 44.1 → 48 kHz resampler may
    // cost at most 3 dB of it (measured: +0.3 dB — its anti-alias filter removes the file's
    // quantisation noise above ~20 kHz).
    const minSnr = Math.min(wavSnr - 3, 78);
    // Seen once in ~10 runs on the shared 2-core VM: a 3 s window at −20.13 dBFS and 15 dB
    // SNR (~90 ms missing) with frame seq contiguous — consistent with Chromium's capture FIFO
    // (fake-device thread → audio thread) padding with silence when starved, though not
    // proven (not reproduced under a 3-process CPU hog). Such a window is recorded (frames
    // off level, lowest frame) and one more 3 s window is taken; a fault in the SDK's own
    // path (resampler, rings) is deterministic and fails both.
    let x: Float32Array = new Float32Array(0);
    let snr = -Infinity;
    for (let attempt = 0; attempt < 2 && !(snr >= minSnr); attempt++) {
      const rec = await page.evaluate(() => window.audioHarness.collect(150));
      x = decodeSamples(rec.samples);
      // Frames are consecutive: nothing dropped between the worklet and the main thread.
      expect(rec.seq.every((s, i) => i === 0 || s === rec.seq[i - 1]! + 1)).toBe(true);
      // One sine fitted over all 3 s: a single dropped or repeated sample would wreck it.
      snr = snrDb(x, fitSine(x, 1000).residual);
      if (snr < minSnr) {
        const levels = frameLevels(x);
        const bad = levels.flatMap((l, i) => (Math.abs(l - wavDbfs) > 0.5 ? [i] : []));
        note(`tone.glitchedWindow${attempt}`, {
          snrDb: +snr.toFixed(1),
          framesOffLevel: bad,
          lowestFrameDbfs: +Math.min(...levels).toFixed(1),
        });
      }
    }
    const level = dbfs(x);
    const freqHz = measureFrequencyHz(x, 1000);
    const crossings = frameLevels(x).map((_, i) =>
      zeroCrossings(x.subarray(i * 960, (i + 1) * 960 + 1)),
    );
    note('tone.wavDbfs', wavDbfs);
    note('tone.capturedDbfs', level);
    note('tone.frequencyErrorHz', freqHz - 1000);
    note('tone.snrDb', snr);
    note('tone.wavSnrDb (16-bit file)', wavSnr);

    expect(Math.abs(level - wavDbfs)).toBeLessThan(0.1);
    // Every 20 ms frame holds exactly 20 periods of 1 kHz.
    expect(new Set(crossings)).toEqual(new Set([20]));
    expect(Math.abs(freqHz - 1000)).toBeLessThan(0.001);
    expect(snr).toBeGreaterThan(minSnr);
    expect(snr).toBeGreaterThan(60);
  } finally {
    await browser.close();
  }
});

test('the level meter reports the WAV level in dBFS within 1 dB at every step', async () => {
  const stepsDbfs = [-10, -20, -30, -40];
  const parts = stepsDbfs.map((l) => quantize16(tone1k(1, l)));
  const wav = new Float32Array(parts.length * WAV_RATE_HZ);
  parts.forEach((p, i) => wav.set(p, i * WAV_RATE_HZ));
  const wavLevels = parts.map((p) => dbfs(p));
  const { browser, page } = await launchWithWav(writeWav('tone-1k-steps', wav));
  try {
    await page.evaluate((stages) => window.audioHarness.startCapture({ stages }), {
      ...ALL_OFF,
      vad: true,
    });
    // Level events are posted ahead of the frames (the port is faster than the 10 ms frame
    // poll): settle longer so no event of the device's start-up silence is counted.
    await page.evaluate((n) => window.audioHarness.waitFrames(n), 3 * SETTLE_FRAMES);
    // Two loops of the file: ~40 level events (5 per second).
    const rec = await page.evaluate(() => window.audioHarness.collect(400));
    const allLevels = rec.events.filter((e) => e.type === 'level').map((e) => e.levelDbfs);
    expect(allLevels.length).toBeGreaterThanOrEqual(35);
    // The file is never silent, but under heavy CPU load Chromium's fake device has been seen
    // to pad its capture with digital silence (≈ 1 run in 10 on a loaded 2-core machine). The
    // meter then correctly reads silence; such rare events are counted, not judged as levels.
    const SILENCE_DBFS = -100;
    const levels = allLevels.filter((l) => l > SILENCE_DBFS);
    note('levelMeter.silentCaptureEvents', allLevels.length - levels.length);
    expect(allLevels.length - levels.length).toBeLessThanOrEqual(2);
    const nearest = levels.map((l) => Math.min(...wavLevels.map((w) => Math.abs(l - w))));
    const hits = wavLevels.map((w) => levels.filter((l) => Math.abs(l - w) < 1).length);
    note('levelMeter.events', levels.length);
    note(
      'levelMeter.wavDbfs',
      wavLevels.map((l) => +l.toFixed(2)),
    );
    note('levelMeter.worstErrorDb (off-boundary)', Math.max(...nearest.filter((d) => d < 1)));
    note('levelMeter.hitsPerStep', hits);
    // An event whose frame straddles a step boundary reads between the two steps (a power
    // mix of both): events are 10 frames apart, so at most one per boundary; 8 s of audio
    // cross at most 9 boundaries. (Steps of 1 s lock the event phase: every boundary or none.)
    const straddling = levels.filter((l, i) => nearest[i]! >= 1);
    note(
      'levelMeter.straddling',
      straddling.map((l) => +l.toFixed(2)),
    );
    for (const l of straddling) {
      expect(l).toBeLessThan(wavLevels[0]!);
      expect(l).toBeGreaterThan(wavLevels[3]!);
    }
    expect(straddling.length).toBeLessThanOrEqual(9);
    // Every step is seen (≥ 5 s worth of events across two loops: about 10 per step).
    for (const n of hits) expect(n).toBeGreaterThanOrEqual(5);
    // Frame metadata carries the same meter for every frame: all within 1 dB of a step but
    // those next to a boundary — the one straddling it, and (measured) sometimes its
    // neighbour: the resampler's linear-phase FIR spreads a 30 dB step over a few samples
    // either side, enough to lift a −40 dBFS frame. 8 s cross at most 9 boundaries: ≤ 2 each.
    const silentFrames = rec.levelDbfs.filter((l) => l <= SILENCE_DBFS).length;
    note('levelMeter.silentCaptureFrames', silentFrames);
    expect(silentFrames).toBeLessThanOrEqual(10);
    const offFrames = rec.levelDbfs.filter(
      (l) => l > SILENCE_DBFS && wavLevels.every((w) => Math.abs(l - w) >= 1),
    );
    note('levelMeter.framesOffStep', offFrames.length);
    expect(offFrames.length).toBeLessThanOrEqual(18);
    for (const l of offFrames) {
      expect(l).toBeLessThan(wavLevels[0]!);
      expect(l).toBeGreaterThan(wavLevels[3]!);
    }
  } finally {
    await browser.close();
  }
});

test('noise suppression removes ≥ 15 dB of noise in speech pauses and keeps speech within 3 dB', async () => {
  const layout = speechBursts(2, 1300);
  const speechAt25 = scaleActive(layout.samples, -25);
  const noise = scaleTo(whiteNoise(speechAt25.length, 7), -45);
  const wav = quantize16(speechAt25.map((v, i) => v + noise[i]!));
  const ref = layoutFrames({ ...layout, samples: speechAt25 });
  const loopFrames = ref.rms.length;
  // Pause frames: no speech within 200 ms either side (the denoiser and alignment need room).
  const isPause = ref.rms.map((_, k) => {
    for (let d = -10; d <= 10; d++)
      if (ref.rms[(k + d + loopFrames) % loopFrames]! > 0) return false;
    return true;
  });
  const maxLevel = Math.max(...ref.levels);
  const isSpeech = ref.levels.map((l) => l > maxLevel - 20);

  const { browser, page } = await launchWithWav(writeWav('speech-noise', wav));
  try {
    await page.evaluate((stages) => window.audioHarness.startCapture({ stages }), {
      ...NS_VAD,
      ns: false,
    });
    await page.evaluate((n) => window.audioHarness.waitFrames(n), SETTLE_FRAMES);
    const off = await page.evaluate((n) => window.audioHarness.collect(n), loopFrames);
    await page.evaluate(() => window.audioHarness.setStageEnabled('ns', true));
    // RNNoise settles within a few hundred ms; give it 1 s.
    await page.evaluate(() => window.audioHarness.waitFrames(50));
    const on = await page.evaluate((n) => window.audioHarness.collect(n), loopFrames);

    const measure = (rec: Recording) => {
      const x = decodeSamples(rec.samples);
      const rms = frameRms(x, 960);
      const { offset, score } = alignToLoop(rms, ref.rms);
      const levels = rms.map((r) => 20 * Math.log10(Math.max(r, 1e-10)));
      const at = (m: number) => (m + offset) % loopFrames;
      const pause = levels.filter((_, m) => isPause[at(m)]!);
      const spoken = levels.filter((_, m) => isSpeech[at(m)]!);
      const spokenRef = ref.levels.filter((_, k) => isSpeech[k]!);
      return {
        score,
        pauseDbfs: powerMeanDb(pause),
        pauseFrames: pause.length,
        speechDbfs: powerMeanDb(spoken),
        refSpeechDbfs: powerMeanDb(spokenRef),
      };
    };
    const a = measure(off);
    const b = measure(on);
    note('ns.off', a);
    note('ns.on', b);
    note('ns.noiseAttenuationDb', a.pauseDbfs - b.pauseDbfs);
    note('ns.speechLevelChangeDb', b.speechDbfs - b.refSpeechDbfs);
    // Both recordings align with the file (else the frame classes below mean nothing).
    // Measured: 0.72 with noise, 0.87 denoised; a wrong offset scores near 0.
    expect(a.score).toBeGreaterThan(0.5);
    expect(b.score).toBeGreaterThan(0.5);
    expect(a.pauseFrames).toBeGreaterThan(50);
    // Without NS the pauses hold the file's noise (−45 dBFS; the resampler's anti-alias filter
    // takes ~0.45 dB of white noise above 20 kHz) and speech its level.
    expect(Math.abs(a.pauseDbfs - -45)).toBeLessThan(1);
    expect(Math.abs(a.speechDbfs - a.refSpeechDbfs)).toBeLessThan(1);
    expect(a.pauseDbfs - b.pauseDbfs).toBeGreaterThanOrEqual(15);
    expect(Math.abs(b.speechDbfs - b.refSpeechDbfs)).toBeLessThanOrEqual(3);
  } finally {
    await browser.close();
  }
});

test('speaking events follow the speech bursts, with the VAD hangover', async () => {
  const layout = speechBursts(2, 1500, 2);
  const wav = quantize16(scaleActive(layout.samples, -25));
  const ref = layoutFrames({ ...layout, samples: wav });
  const loopFrames = ref.rms.length;
  const { browser, page } = await launchWithWav(writeWav('speech-bursts', wav));
  try {
    await page.evaluate((stages) => window.audioHarness.startCapture({ stages }), NS_VAD);
    await page.evaluate((n) => window.audioHarness.waitFrames(n), SETTLE_FRAMES);
    const rec = await page.evaluate((n) => window.audioHarness.collect(n), 2 * loopFrames);
    const x = decodeSamples(rec.samples);
    const { offset, score } = alignToLoop(frameRms(x, 960), ref.rms);
    expect(score).toBeGreaterThan(0.8);
    const burstFrames = layout.bursts.map(([s, e]) => [
      Math.floor(s / WAV_FRAME_SAMPLES),
      Math.ceil(e / WAV_FRAME_SAMPLES),
    ]);
    // Recorded frame m holds file frame (m + offset) mod K: burst intervals in recorded frames.
    const intervals: Array<[number, number]> = [];
    for (let loop = -1; loop <= 2; loop++) {
      for (const [s, e] of burstFrames) {
        const a = s! - offset + loop * loopFrames;
        const b = e! - offset + loop * loopFrames;
        if (b > 0 && a < rec.flags.length) intervals.push([a, b]);
      }
    }
    const speakingFlag = rec.flags.map((f) => (f & 1) === 1);
    const inBurst = (m: number) => intervals.some(([a, b]) => m >= a && m < b);
    const hangoverFrames = 300 / FRAME_MS;
    // Quiet: not in a burst, nor within hangover + 100 ms after one, nor 40 ms before one.
    const quiet = (m: number) =>
      !intervals.some(([a, b]) => m >= a - 2 && m < b + hangoverFrames + 5);
    let speechFrames = 0;
    let speechSpeaking = 0;
    let quietFrames = 0;
    let quietSpeaking = 0;
    speakingFlag.forEach((s, m) => {
      // Skip each burst's first 100 ms: onset detection needs a few frames.
      if (inBurst(m) && !intervals.some(([a]) => m >= a && m < a + 5)) {
        speechFrames++;
        if (s) speechSpeaking++;
      } else if (quiet(m)) {
        quietFrames++;
        if (s) quietSpeaking++;
      }
    });
    const events = rec.events.filter(
      (e): e is Extract<HarnessEvent, { type: 'speakingChanged' }> => e.type === 'speakingChanged',
    );
    // Onset/offset delays of the events against the file, in ms.
    const onsets = events
      .filter((e) => e.speaking)
      .map((e) => {
        const start = intervals.map(([a]) => a).filter((a) => a >= -5 && a <= e.frame + 5);
        return (e.frame - Math.max(...start)) * FRAME_MS;
      });
    const offsets = events
      .filter((e) => !e.speaking)
      .map((e) => {
        const ends = intervals.map(([, b]) => b).filter((b) => b <= e.frame + 5);
        return (e.frame - Math.max(...ends)) * FRAME_MS;
      });
    note('speaking.alignmentScore', score);
    note('speaking.duringSpeechPct', (100 * speechSpeaking) / speechFrames);
    note('speaking.duringSilencePct', (100 * quietSpeaking) / quietFrames);
    note('speaking.onsetDelaysMs', onsets);
    note('speaking.releaseDelaysMs', offsets);

    expect(speechFrames).toBeGreaterThan(100);
    expect(quietFrames).toBeGreaterThan(50);
    expect(speechSpeaking / speechFrames).toBeGreaterThanOrEqual(0.95);
    expect(quietSpeaking).toBe(0);
    // Two loops of two bursts: each onset fires once, within 100 ms of the speech (±40 ms of
    // main-thread polling); each release comes after the hangover, within 600 ms of the end.
    // (Measured onsets 0–80 ms.)
    expect(onsets.length).toBeGreaterThanOrEqual(3);
    expect(offsets.length).toBeGreaterThanOrEqual(3);
    for (const d of onsets) expect(d).toBeGreaterThanOrEqual(-40);
    for (const d of onsets) expect(d).toBeLessThanOrEqual(140);
    // Releases: the hangover (300 ms) holds `speaking` past the end of each burst; the RNNoise
    // probability may fall a little before the last audible sample (measured 220–400 ms after
    // the file's burst end), where without a hangover it would release at about 0 ms.
    for (const d of offsets) expect(d).toBeGreaterThanOrEqual(150);
    for (const d of offsets) expect(d).toBeLessThanOrEqual(600);
  } finally {
    await browser.close();
  }
});

test('talkingWhileMuted fires when speaking muted, and muted frames carry silence', async () => {
  const layout = speechBursts(2, 1200, 4);
  const wav = quantize16(scaleActive(layout.samples, -25));
  const loopFrames = Math.round(wav.length / WAV_FRAME_SAMPLES);
  const { browser, page } = await launchWithWav(writeWav('speech-muted', wav));
  try {
    await page.evaluate((stages) => window.audioHarness.startCapture({ stages }), NS_VAD);
    await page.evaluate(() => window.audioHarness.setMuted(true));
    await page.evaluate((n) => window.audioHarness.waitFrames(n), SETTLE_FRAMES);
    // Muted for one loop: every frame silent and flagged, and the warning fires on speech.
    const muted = await page.evaluate((n) => window.audioHarness.collect(n), loopFrames);
    const xm = decodeSamples(muted.samples);
    const warned = muted.events.filter((e) => e.type === 'talkingWhileMuted');
    const spokeMuted = muted.flags.filter((f) => (f & 1) === 1).length;
    note('muted.framesSpeaking', spokeMuted);
    note('muted.talkingWhileMutedEvents', warned.length);
    expect(muted.flags.every((f) => (f & 2) === 2)).toBe(true);
    expect(xm.every((v) => v === 0)).toBe(true);
    // The VAD still hears the speech while muted, and tells the user once per onset.
    expect(spokeMuted).toBeGreaterThan(50);
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(warned.length).toBeLessThanOrEqual(2);

    await page.evaluate(() => window.audioHarness.setMuted(false));
    await page.evaluate(() => window.audioHarness.waitFrames(5));
    const live = await page.evaluate((n) => window.audioHarness.collect(n), loopFrames);
    const xl = decodeSamples(live.samples);
    // Unmuted: speech comes through (at −25 dBFS active level, at least −35 dBFS overall)
    // and the warning stays quiet.
    expect(live.flags.every((f) => (f & 2) === 0)).toBe(true);
    expect(dbfs(xl)).toBeGreaterThan(-35);
    expect(live.events.filter((e) => e.type === 'talkingWhileMuted')).toHaveLength(0);
    expect(live.events.some((e) => e.type === 'speakingChanged' && e.speaking)).toBe(true);
  } finally {
    await browser.close();
  }
});
