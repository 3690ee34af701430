import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPTURE_STAGES, CaptureChain } from '../src/CaptureChain.js';
import { FRAME_SAMPLES } from '../src/constants.js';
import { DspError } from '../src/DspError.js';
import { decodeWav, encodeWav } from '../src/wav.js';
import {
  activeLevelDbfs,
  babble,
  bestLag,
  convolve,
  dbfs,
  FS,
  mix,
  pinkNoise,
  rms,
  roomImpulseResponse,
  scaleTo,
  speechTrack,
  tone,
} from '@concord/testing';

function run(
  chain: CaptureChain,
  mic: Float32Array,
  ref?: Float32Array,
): { out: Float32Array; speaking: boolean[]; levels: number[] } {
  const n = chain.frameSamples;
  const frames = Math.floor(mic.length / n);
  const out = new Float32Array(frames * n);
  const speaking: boolean[] = [];
  const levels: number[] = [];
  for (let f = 0; f < frames; f++) {
    const at = f * n;
    chain.input.set(mic.subarray(at, at + n));
    if (ref) chain.reference.set(ref.subarray(at, at + n));
    else chain.reference.fill(0);
    const r = chain.process();
    out.set(chain.output, at);
    speaking.push(r.speaking);
    levels.push(r.levelDbfs);
  }
  return { out, speaking, levels };
}

/** Speech (en-us, 800 ms pauses) scaled to `levelDbfs` active level. */
function talker(samples: number, levelDbfs: number): Float32Array {
  const s = speechTrack(samples, 'en-us', 800, 1);
  const g = 10 ** ((levelDbfs - activeLevelDbfs(s)) / 20);
  return s.map((v) => v * g);
}

/**
 * Noise in the talker's pauses, output over input, in dB: power over the 20 ms frames where
 * `clean` is silent with at least 200 ms of silence on both sides (the first 2 s left out while
 * the stages settle), the output read `delay` samples later.
 */
function pauseGainDb(clean: Float32Array, mic: Float32Array, out: Float32Array, delay: number) {
  const frames = Math.floor(clean.length / FRAME_SAMPLES);
  const silent = (f: number): boolean =>
    f >= 0 && f < frames && rms(clean, f * FRAME_SAMPLES, (f + 1) * FRAME_SAMPLES) < 1e-6;
  let pin = 0;
  let pout = 0;
  let count = 0;
  for (let f = 100; f < frames - 11; f++) {
    let pause = true;
    for (let k = -10; k <= 10 && pause; k++) pause = silent(f + k);
    if (!pause) continue;
    count++;
    for (let i = f * FRAME_SAMPLES; i < (f + 1) * FRAME_SAMPLES; i++) {
      pin += mic[i]! * mic[i]!;
      pout += out[i + delay]! * out[i + delay]!;
    }
  }
  return { db: 10 * Math.log10(pout / pin), frames: count };
}

describe('CaptureChain', () => {
  it('with every stage off, passes the input through unchanged', async () => {
    const chain = await CaptureChain.create({
      stages: { aec: false, ns: false, agc: false, vad: false },
    });
    const x = tone(FS, 440, 0.3);
    const { out } = run(chain, x);
    expect(Array.from(out.subarray(0, 4800))).toEqual(Array.from(x.subarray(0, 4800)));
    expect(chain.report.stageUs.every((us) => us === 0)).toBe(true);
    chain.destroy();
  });

  it('reports the level of the processed frame within 0.5 dB (vad only)', async () => {
    const chain = await CaptureChain.create({
      stages: { aec: false, ns: false, agc: false, vad: true },
    });
    const x = tone(FS, 1000, 0.1); // RMS 0.0707 → −23.0 dBFS
    const { levels } = run(chain, x);
    expect(Math.abs(levels.at(-1)! - dbfs(x))).toBeLessThan(0.5);
    chain.destroy();
  });

  it('runs all four stages on echo + noise + speech: cancels echo, follows speech, times each stage', async () => {
    const seconds = 6;
    const n = seconds * FS;
    const far = scaleTo(speechTrack(n, 'en-us', 300, 0), -20);
    const echo = scaleTo(convolve(far, roomImpulseResponse(150, 10, 7)), -26);
    const near = new Float32Array(n);
    // Near-end talker only in the last two seconds.
    near.set(scaleTo(speechTrack(2 * FS, 'en-gb', 200, 3), -24).subarray(0, 2 * FS), 4 * FS);
    const noise = scaleTo(pinkNoise(n, 3), -56);
    const mic = near.map((v, i) => v + echo[i]! + noise[i]!);

    const chain = await CaptureChain.create();
    expect(CAPTURE_STAGES.every((s) => chain.isStageEnabled(s))).toBe(true);
    const { out, speaking } = run(chain, mic, far);
    // Far-end only, after 2 s of adaptation: echo mostly gone (AEC + RNNoise + AGC together).
    const echoOnly = [2.5 * FS, 3.8 * FS] as const;
    expect(dbfs(mic, ...echoOnly) - dbfs(out, ...echoOnly)).toBeGreaterThan(20);
    // The near-end talker is kept and detected.
    expect(dbfs(out, 4.2 * FS, 5.8 * FS)).toBeGreaterThan(-40);
    const nearFrames = speaking.slice(
      Math.round((4.2 * FS) / FRAME_SAMPLES),
      Math.round((5.8 * FS) / FRAME_SAMPLES),
    );
    expect(nearFrames.filter(Boolean).length / nearFrames.length).toBeGreaterThan(0.6);
    for (let i = 0; i < CAPTURE_STAGES.length; i++)
      expect(chain.report.stageUs[i]).toBeGreaterThan(0);
    expect(chain.report.totalUs).toBeGreaterThanOrEqual(chain.report.stageUs[0]!);
    chain.destroy();
  });

  it.each([
    [-30, -40],
    [-25, -35],
    [-30, -50],
  ])(
    'leaves babble in the talker’s pauses no louder than it came in (every stage on; talker %i dBFS, babble %i dBFS)',
    async (talkerDbfs, babbleDbfs) => {
      // A quiet talker (the AGC wants +12 dB at −30 dBFS) with 4-voice babble 10–20 dB below.
      // RNNoise neither removes babble nor tells it from the talker (its VAD says speech in most
      // pause frames), so a gain that followed the talker lifted the pauses by as much.
      // Before the AGC's noise-aware cap: +12.7 dB for the first case. Now the gain stays near
      // 0 dB in babble (so the talker is not lifted either: that would lift the babble):
      // −0.57, −0.35 and −0.44 dB.
      const n = 12 * FS;
      const clean = talker(n, talkerDbfs);
      const mic = mix(clean, scaleTo(babble(n), babbleDbfs));
      const chain = await CaptureChain.create();
      const { out } = run(chain, mic);
      const pause = pauseGainDb(clean, mic, out, chain.delaySamples);
      expect(pause.frames).toBeGreaterThan(50);
      expect(pause.db).toBeLessThanOrEqual(0);
      chain.destroy();
    },
  );

  it('still brings a quiet talker to the AGC target in pink noise, pauses no louder', async () => {
    // Stationary noise: RNNoise removes it, so the AGC may raise the talker to −18 dBFS and the
    // pauses still come out far quieter than they went in.
    const n = 12 * FS;
    const clean = talker(n, -32);
    const mic = mix(clean, scaleTo(pinkNoise(n, 5), -47));
    const chain = await CaptureChain.create();
    const { out } = run(chain, mic);
    expect(Math.abs(activeLevelDbfs(out.subarray(4 * FS)) + 18)).toBeLessThanOrEqual(1.5);
    expect(pauseGainDb(clean, mic, out, chain.delaySamples).db).toBeLessThan(-10);
    chain.destroy();
  });

  it('on 480-sample frames, echo canceller + RNNoise give exactly the 960-sample output', async () => {
    const n = 3 * FS;
    const far = scaleTo(speechTrack(n, 'en-us', 300, 0), -20);
    const echo = scaleTo(convolve(far, roomImpulseResponse(150, 10, 7)), -26);
    const mic = mix(echo, scaleTo(speechTrack(n, 'en-gb', 200, 3), -30));
    const stages = { aec: true, ns: true, agc: false, vad: false };
    const big = await CaptureChain.create({ stages });
    const small = await CaptureChain.create({ stages, frameSamples: 480 });
    expect([big.frameSamples, small.frameSamples]).toEqual([960, 480]);
    const a = run(big, mic, far).out;
    const b = run(small, mic, far).out;
    expect(rms(b)).toBeGreaterThan(0.005);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(() => small.processHalf(0)).toThrow(RangeError);
    big.destroy();
    small.destroy();
  });

  it('on 480-sample frames with every stage on, cancels echo and keeps and detects the talker', async () => {
    const seconds = 6;
    const n = seconds * FS;
    const far = scaleTo(speechTrack(n, 'en-us', 300, 0), -20);
    const echo = scaleTo(convolve(far, roomImpulseResponse(150, 10, 7)), -26);
    const near = new Float32Array(n);
    near.set(scaleTo(speechTrack(2 * FS, 'en-gb', 200, 3), -24).subarray(0, 2 * FS), 4 * FS);
    const mic = mix(near, echo, scaleTo(pinkNoise(n, 3), -56));
    const chain = await CaptureChain.create({ frameSamples: 480 });
    const { out, speaking } = run(chain, mic, far);
    expect(dbfs(mic, 2.5 * FS, 3.8 * FS) - dbfs(out, 2.5 * FS, 3.8 * FS)).toBeGreaterThan(20);
    expect(dbfs(out, 4.2 * FS, 5.8 * FS)).toBeGreaterThan(-40);
    const nearFrames = speaking.slice((4.2 * FS) / 480, (5.8 * FS) / 480);
    expect(nearFrames.filter(Boolean).length / nearFrames.length).toBeGreaterThan(0.6);
    await expect(CaptureChain.create({ frameSamples: 128 as 480 })).rejects.toThrow(RangeError);
    chain.destroy();
  });

  it.each([960, 480] as const)(
    'delays the output by exactly the echo canceller’s and RNNoise’s delays, each stage and all (%i-sample frames)',
    async (frameSamples) => {
      // Near-end talker only (no far end): cross-correlate output against input per setup.
      const n = 4 * FS;
      const mic = mix(scaleTo(speechTrack(n, 'en-us', 300, 5), -26), scaleTo(pinkNoise(n, 8), -60));
      const setups: [string, Partial<Record<(typeof CAPTURE_STAGES)[number], boolean>>, number][] =
        [
          // Issue 12's goals: the echo canceller's share ≤ 3 ms (144), the chain ≤ 13 ms (624).
          ['aec', { aec: true, ns: false, agc: false, vad: false }, 120],
          ['ns', { aec: false, ns: true, agc: false, vad: false }, 480],
          ['agc', { aec: false, ns: false, agc: true, vad: false }, 0],
          ['vad', { aec: false, ns: false, agc: false, vad: true }, 0],
          ['all', { aec: true, ns: true, agc: true, vad: true }, 600],
        ];
      for (const [name, stages, expected] of setups) {
        const chain = await CaptureChain.create({ stages, frameSamples });
        const { out } = run(chain, mic);
        expect(bestLag(mic, out, 2_400), name).toBe(expected);
        expect(chain.delaySamples, name).toBe(expected);
        chain.destroy();
      }
    },
  );

  it('processHalf(0) then processHalf(1), fed half by half, equals process() exactly', async () => {
    const n = 2 * FS;
    const far = scaleTo(speechTrack(n, 'en-us', 300, 2), -20);
    const mic = far.map((v, i) => 0.3 * v + 0.01 * Math.sin(i / 7));
    const whole = await CaptureChain.create();
    const halves = await CaptureChain.create();
    const half = FRAME_SAMPLES / 2;
    for (let f = 0; f < n / FRAME_SAMPLES; f++) {
      const at = f * FRAME_SAMPLES;
      whole.input.set(mic.subarray(at, at + FRAME_SAMPLES));
      whole.reference.set(far.subarray(at, at + FRAME_SAMPLES));
      const a = whole.process();
      halves.input.set(mic.subarray(at, at + half));
      halves.reference.set(far.subarray(at, at + half));
      expect(halves.processHalf(0)).toBeUndefined();
      halves.input.set(mic.subarray(at + half, at + FRAME_SAMPLES), half);
      halves.reference.set(far.subarray(at + half, at + FRAME_SAMPLES), half);
      const b = halves.processHalf(1)!;
      expect(Array.from(halves.output)).toEqual(Array.from(whole.output));
      expect([b.levelDbfs, b.speechProbability, b.speaking]).toEqual([
        a.levelDbfs,
        a.speechProbability,
        a.speaking,
      ]);
    }
    whole.destroy();
    halves.destroy();
  });

  it('switches stages at runtime', async () => {
    const chain = await CaptureChain.create({
      stages: { aec: false, ns: false, agc: false, vad: false },
    });
    const x = tone(FS / 5, 500, 0.05);
    run(chain, x);
    chain.setStageEnabled('agc', true);
    expect(chain.isStageEnabled('agc')).toBe(true);
    run(chain, x);
    expect(chain.report.stageUs[2]).toBeGreaterThan(0);
    expect(() => chain.setStageEnabled('eq' as never, true)).toThrow(RangeError);
    chain.destroy();
  });

  it('destroy() is idempotent and process() afterwards throws DspError', async () => {
    const chain = await CaptureChain.create();
    chain.destroy();
    chain.destroy();
    expect(() => chain.process()).toThrow(DspError);
  });

  it('creating and destroying 200 chains leaves memory flat', async () => {
    const warm = await CaptureChain.create();
    warm.destroy();
    globalThis.gc?.();
    const before = process.memoryUsage();
    for (let i = 0; i < 200; i++) (await CaptureChain.create()).destroy();
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 50));
    const after = process.memoryUsage();
    // Each chain holds ~1–2 MB of WASM memory: 200 leaked chains would add hundreds of MB.
    expect(after.rss - before.rss).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('concord-dsp CLI', () => {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  let dir: string;
  beforeAll(() => {
    execFileSync(process.execPath, ['-e', '0']);
    dir = mkdtempSync(join(tmpdir(), 'concord-dsp-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('processes a 44.1 kHz stereo WAV into a 48 kHz mono WAV and prints timing and a VAD summary', () => {
    const sp = speechTrack(2 * 44_100, 'en-us', 200, 1);
    const input = join(dir, 'in.wav');
    writeFileSync(input, encodeWav([sp, sp], 44_100));
    const output = join(dir, 'out.wav');
    const stdout = execFileSync(
      process.execPath,
      [cli, 'process', '--in', input, '--out', output, '--stages', 'ns,agc,vad'],
      { encoding: 'utf8' },
    );
    expect(stdout).toMatch(/^ns\s+yes\s+\d/m);
    expect(stdout).toMatch(/^aec\s+no/m);
    expect(stdout).toMatch(/speaking: \d+\.\d% of frames/);
    const wav = decodeWav(readFileSync(output));
    expect(wav.sampleRateHz).toBe(48_000);
    expect(wav.channels).toHaveLength(1);
    expect(
      Math.abs(wav.channels[0]!.length - Math.round((sp.length * 48_000) / 44_100)),
    ).toBeLessThanOrEqual(1);
  });

  it('refuses an unknown stage and a missing file with exit code 2 and a clear message', () => {
    const bad = spawnSync(
      process.execPath,
      [cli, 'process', '--in', 'x.wav', '--out', 'y.wav', '--stages', 'eq'],
      { encoding: 'utf8' },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown stage "eq"');
    const missing = spawnSync(
      process.execPath,
      [cli, 'process', '--in', join(dir, 'nope.wav'), '--out', join(dir, 'o.wav')],
      { encoding: 'utf8' },
    );
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('concord-dsp:');
  });
});
