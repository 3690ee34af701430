#!/usr/bin/env node
// concord-dsp: runs the capture chain on WAV files, for tuning and QA.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CAPTURE_STAGES, CaptureChain, type CaptureStage } from './CaptureChain.js';
import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE_HZ } from './constants.js';
import type { DenoiserModel } from './Denoiser.js';
import { DspError } from './DspError.js';
import { Resampler } from './Resampler.js';
import { decodeWav, encodeWav } from './wav.js';

const USAGE = `Usage:
  concord-dsp process --in mic.wav [--ref far.wav] --out out.wav
                      [--stages aec,ns,agc,vad] [--ns-model fast|quality] [--float]

Runs Concord's capture chain (echo canceller → RNNoise → AGC → level/VAD) on a WAV file
(16/24/32-bit PCM or float, any rate and channel count: mixed to mono, resampled to 48 kHz),
writes the 48 kHz result, and prints per-stage timing and a VAD/level summary.
  --ref      far-end (loudspeaker) signal for the echo canceller, aligned with --in
  --stages   stages to run (default: all four)
  --ns-model RNNoise build: fast (rnnoise 0.1, default) or quality (rnnoise 0.2)
  --float    write 32-bit float instead of 16-bit PCM`;

/** Mono at 48 kHz from any WAV. */
async function load48k(path: string): Promise<Float32Array> {
  const wav = decodeWav(new Uint8Array(await readFile(path)));
  const n = wav.channels[0]!.length;
  const mono = new Float32Array(n);
  for (const ch of wav.channels)
    for (let i = 0; i < n; i++) mono[i]! += ch[i]! / wav.channels.length;
  if (wav.sampleRateHz === SAMPLE_RATE_HZ) return mono;
  const resampler = await Resampler.create({
    inRateHz: wav.sampleRateHz,
    outRateHz: SAMPLE_RATE_HZ,
  });
  try {
    return resampler.processSignal(mono);
  } finally {
    resampler.destroy();
  }
}

function parseStages(spec: string | undefined): Record<CaptureStage, boolean> {
  const all = Object.fromEntries(CAPTURE_STAGES.map((s) => [s, spec === undefined])) as Record<
    CaptureStage,
    boolean
  >;
  if (spec === undefined) return all;
  for (const raw of spec.split(',').filter(Boolean)) {
    const s = raw.trim() as CaptureStage;
    if (!CAPTURE_STAGES.includes(s))
      throw new RangeError(
        `--stages: unknown stage "${raw}" (known: ${CAPTURE_STAGES.join(', ')})`,
      );
    all[s] = true;
  }
  return all;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};
const p95 = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]! : 0;
};

async function processCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      in: { type: 'string' },
      ref: { type: 'string' },
      out: { type: 'string' },
      stages: { type: 'string' },
      'ns-model': { type: 'string' },
      float: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.in || !values.out) throw new RangeError('process needs --in and --out');
  const model = (values['ns-model'] ?? 'fast') as DenoiserModel;
  if (model !== 'fast' && model !== 'quality')
    throw new RangeError(`--ns-model must be fast or quality, got "${model}"`);
  const stages = parseStages(values.stages);
  const mic = await load48k(values.in);
  const ref = values.ref ? await load48k(values.ref) : new Float32Array(0);
  const chain = await CaptureChain.create({ stages, nsModel: model });
  const frames = Math.ceil(mic.length / FRAME_SAMPLES);
  const out = new Float32Array(frames * FRAME_SAMPLES);
  const perStage: number[][] = CAPTURE_STAGES.map(() => []);
  const totals: number[] = [];
  const levels: number[] = [];
  let speakingFrames = 0;
  try {
    for (let f = 0; f < frames; f++) {
      const at = f * FRAME_SAMPLES;
      chain.input.fill(0).set(mic.subarray(at, Math.min(mic.length, at + FRAME_SAMPLES)));
      chain.reference.fill(0);
      if (at < ref.length)
        chain.reference.set(ref.subarray(at, Math.min(ref.length, at + FRAME_SAMPLES)));
      const r = chain.process();
      out.set(chain.output, at);
      r.stageUs.forEach((us, i) => perStage[i]!.push(us));
      totals.push(r.totalUs);
      levels.push(r.levelDbfs);
      if (r.speaking) speakingFrames++;
    }
  } finally {
    chain.destroy();
  }
  await writeFile(
    values.out,
    encodeWav([out.subarray(0, mic.length)], SAMPLE_RATE_HZ, values.float ? 'float32' : 'pcm16'),
  );

  console.log(
    `processed ${frames} frames (${((frames * FRAME_MS) / 1000).toFixed(2)} s) → ${values.out}`,
  );
  console.log('stage   on    median µs   p95 µs');
  CAPTURE_STAGES.forEach((s, i) => {
    console.log(
      `${s.padEnd(7)} ${(stages[s] ? 'yes' : 'no').padEnd(5)} ${median(perStage[i]!).toFixed(1).padStart(9)} ${p95(perStage[i]!).toFixed(1).padStart(8)}`,
    );
  });
  console.log(
    `chain   ${''.padEnd(5)} ${median(totals).toFixed(1).padStart(9)} ${p95(totals).toFixed(1).padStart(8)}   (budget ${FRAME_MS * 1000} µs)`,
  );
  const active = levels.filter((l) => l > -60);
  console.log(`speaking: ${((100 * speakingFrames) / Math.max(1, frames)).toFixed(1)}% of frames`);
  console.log(
    `level: median ${median(levels).toFixed(1)} dBFS, loudest ${Math.max(...levels).toFixed(1)} dBFS, frames above -60 dBFS: ${active.length}`,
  );
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command !== 'process') throw new RangeError(`unknown command "${command}"\n\n${USAGE}`);
  await processCommand(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message =
      err instanceof DspError || err instanceof RangeError || err instanceof TypeError
        ? err.message
        : String(err);
    console.error(`concord-dsp: ${message}`);
    process.exit(2);
  },
);
