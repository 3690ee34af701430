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
  convolve,
  dbfs,
  FS,
  pinkNoise,
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
  const frames = Math.floor(mic.length / FRAME_SAMPLES);
  const out = new Float32Array(frames * FRAME_SAMPLES);
  const speaking: boolean[] = [];
  const levels: number[] = [];
  for (let f = 0; f < frames; f++) {
    const at = f * FRAME_SAMPLES;
    chain.input.set(mic.subarray(at, at + FRAME_SAMPLES));
    if (ref) chain.reference.set(ref.subarray(at, at + FRAME_SAMPLES));
    else chain.reference.fill(0);
    const r = chain.process();
    out.set(chain.output, at);
    speaking.push(r.speaking);
    levels.push(r.levelDbfs);
  }
  return { out, speaking, levels };
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
