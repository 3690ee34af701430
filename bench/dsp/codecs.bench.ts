// µs per 20 ms frame for the wrapped libraries: RNNoise (the rnnoise 0.1 model with WASM SIMD from
// @shiguredo/rnnoise-wasm and without from @jitsi/rnnoise-wasm, and jitsi's rnnoise 0.2 build,
// through the Denoiser wrapper and as bare library calls, interleaved in one run) and Opus (libopus from @evan/opus's wasm, SIMD
// and scalar builds; opusscript's wasm as the same-run baseline). Input: espeak-ng speech at
// -20 dBFS with pink noise 30 dB below, so both codecs see speech, pauses and noise.
import { createRequire } from 'node:module';
import { Denoiser } from '../../packages/wasm-dsp/src/Denoiser.js';
import { OpusWasm } from '../../packages/wasm-dsp/src/opus/OpusWasm.js';
import { WasmOpusDecoder } from '../../packages/wasm-dsp/src/opus/WasmOpusDecoder.js';
import {
  OPUS_MAX_PACKET_BYTES,
  WasmOpusEncoder,
} from '../../packages/wasm-dsp/src/opus/WasmOpusEncoder.js';
import {
  DEFAULT_OPUS_ENCODER_SETTINGS as D,
  type OpusEncoderSettings,
} from '../../packages/wasm-dsp/src/opus/opusTypes.js';
import { readRnnoiseSource, RnnoiseWasm } from '../../packages/wasm-dsp/src/RnnoiseWasm.js';
import { FS, mix, pinkNoise, scaleTo, speechTrack } from '../../packages/testing/src/signals.js';
import { report, round, timeUs as wallUs, type BenchRow, type Timing } from '../lib/harness.js';
import { pairedUs } from '../lib/paired.js';

const FRAME = 960;
const SECONDS = 6;
const speech = scaleTo(speechTrack(FS * SECONDS, 'en-us', 400), -20);
const signal = mix(speech, scaleTo(pinkNoise(FS * SECONDS, 5), -50));
const frames: Float32Array[] = [];
for (let s = 0; s + FRAME <= signal.length; s += FRAME) frames.push(signal.subarray(s, s + FRAME));
// One pass over the track per batch keeps every batch's mix of speech and pauses the same.
const opts = { batches: 21, batchSize: frames.length, warmupCalls: frames.length };

/**
 * The harness's wall-clock timing plus this process's CPU time per call over the same run: other
 * work on the 2 cores (parallel test runs, other benchmarks) inflates wall time by preemption,
 * while CPU time stays close to the quiet-machine figure.
 */
function timeUs(fn: () => void, o: typeof opts): Timing & { cpuUs: number } {
  const calls = o.warmupCalls + o.batches * o.batchSize;
  const c0 = process.cpuUsage();
  const t = wallUs(fn, o);
  const c = process.cpuUsage(c0);
  return { ...t, cpuUs: (c.user + c.system) / calls };
}

const rows: BenchRow[] = [];
const row = (
  name: string,
  t: Timing & { cpuUs: number },
  goalUs?: number,
  extra: Record<string, unknown> = {},
): void => {
  rows.push({
    name,
    median: t.medianUs,
    p95: t.p95Us,
    unit: 'us/frame',
    minUs: round(t.minUs),
    cpuUs: round(t.cpuUs),
    ...(goalUs === undefined ? {} : { goal: `<= ${goalUs} us`, met: t.medianUs <= goalUs }),
    ...extra,
  });
};

// --- RNNoise -------------------------------------------------------------------------------
// The three builds interleaved batch by batch (bench/lib/paired.ts), so the SIMD build's speed-up
// over the earlier default (jitsi's build of the same model without SIMD) is a same-run ratio.
// Each also as bare library calls: two rnnoise_process_frame calls on data already in the heap,
// i.e. what the wrapper costs on top is the scaling and copying.
{
  const builds = [
    { name: 'fast.nosimd', model: 'fast', simd: false },
    { name: 'fast.simd', model: 'fast', simd: true },
    { name: 'quality', model: 'quality', simd: false },
  ] as const;
  const out = new Float32Array(FRAME);
  const wrapped: (() => void)[] = [];
  const bare: (() => void)[] = [];
  const cleanup: (() => void)[] = [];
  for (const b of builds) {
    const d = await Denoiser.create({ model: b.model, simd: b.simd });
    let k = 0;
    wrapped.push(() => {
      d.process(frames[k++ % frames.length]!, out);
    });
    const rt = RnnoiseWasm.fromSource(await readRnnoiseSource(b.model, { simd: b.simd }));
    const st = rt.create(0);
    const buf = rt.malloc(2 * 480 * 4);
    let j = 0;
    bare.push(() => {
      const f = frames[j++ % frames.length]!;
      const heap = rt.heapF32();
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < 480; i++) heap[(buf >> 2) + i] = f[h * 480 + i]! * 32_768;
        rt.processFrame(st, buf + 480 * 4, buf);
      }
    });
    cleanup.push(() => {
      d.destroy();
      rt.destroy(st);
      rt.free(buf);
    });
  }
  const w = pairedUs(wrapped, opts);
  const bb = pairedUs(bare, opts);
  for (const c of cleanup) c();
  builds.forEach((b, i) => {
    row(`rnnoise.${b.name}.wrapper.20ms`, w[i]!, undefined, {
      speedupVsNoSimd: round(1 / w[i]!.ratioToFirst, 2),
      per10msFrameUs: round(w[i]!.medianUs / 2, 1),
      bareLibraryUs: round(bb[i]!.medianUs),
      bareSpeedupVsNoSimd: round(1 / bb[i]!.ratioToFirst, 2),
      wrapperOverhead: round(w[i]!.medianUs / bb[i]!.medianUs),
    });
  });
}

// --- Opus ----------------------------------------------------------------------------------
const packet = new Uint8Array(OPUS_MAX_PACKET_BYTES);
function benchEncoder(
  name: string,
  module: WebAssembly.Module,
  settings: Partial<OpusEncoderSettings>,
  goalUs?: number,
): Uint8Array[] {
  const enc = WasmOpusEncoder.createSync(module, settings);
  let k = 0;
  let bytes = 0;
  const n = enc.frameSamples;
  // Always per 20 ms of audio: two encode calls with 10 ms frames.
  const t = timeUs(() => {
    const f = frames[k++ % frames.length]!;
    for (let s = 0; s < FRAME; s += n) bytes += enc.encodeInto(f.subarray(s, s + n), packet);
  }, opts);
  const packets = n === FRAME ? frames.map((f) => enc.encode(f).slice()) : [];
  enc.destroy();
  row(name, t, goalUs, { ...settings, meanPacketBytes: round(bytes / k, 1) });
  return packets;
}

const simd = await OpusWasm.loadModule('simd');
const scalar = await OpusWasm.loadModule('scalar');
const defaults = benchEncoder('opus.encode.simd.default', simd, {}, 260);
benchEncoder('opus.encode.scalar.default', scalar, {}, 260);
for (const complexity of [10, 9, 7, 5, 3]) {
  benchEncoder(`opus.encode.simd.complexity${complexity}`, simd, { complexity }, 260);
}
benchEncoder('opus.encode.simd.noFec', simd, { fec: false, packetLossPercent: 0 }, 260);
benchEncoder('opus.encode.simd.10ms', simd, { frameMs: 10 });

// opusscript (libopus 1.4, emscripten wasm; `wasm: true` is its default, set explicitly so the
// 14× slower asm.js build is never measured). It copies in and out of its heap and allocates a
// Buffer per packet: that is part of its cost.
{
  const require = createRequire(import.meta.url);
  type OpusScriptCtor = new (
    rate: number,
    channels: number,
    application: number,
    options: { wasm: boolean },
  ) => {
    encode(pcm: Buffer, frameSize: number): Buffer;
    encoderCTL(ctl: number, value: number): void;
    delete(): void;
  };
  const OpusScript = require('opusscript') as OpusScriptCtor;
  const os = new OpusScript(FS, 1, 2048, { wasm: true });
  // Same settings as the default WasmOpusEncoder: bitrate, complexity, FEC, loss %, signal voice.
  for (const [ctl, v] of [
    [4002, D.bitrateBps],
    [4010, D.complexity],
    [4012, D.fec ? 1 : 0],
    [4014, D.packetLossPercent],
    [4024, 3001],
  ] as const) {
    os.encoderCTL(ctl, v);
  }
  const pcm = frames.map((f) => {
    const b = Buffer.alloc(FRAME * 2);
    for (let i = 0; i < FRAME; i++) {
      b.writeInt16LE(Math.max(-32_768, Math.min(32_767, Math.round(f[i]! * 32_768))), i * 2);
    }
    return b;
  });
  let k = 0;
  const t = timeUs(() => {
    os.encode(pcm[k++ % pcm.length]!, FRAME);
  }, opts);
  os.delete();
  row('opus.encode.opusscript.default', t, 260);
}

{
  const dec = WasmOpusDecoder.createSync(simd);
  const out = new Float32Array(FRAME);
  let k = 0;
  row(
    'opus.decode.simd',
    timeUs(() => {
      dec.decode(defaults[k++ % defaults.length]!, out);
    }, opts),
  );
  k = 0;
  row(
    'opus.decodeFec.simd',
    timeUs(() => {
      dec.decodeFec(defaults[k++ % defaults.length]!, out);
    }, opts),
  );
  row(
    'opus.conceal.simd',
    timeUs(() => {
      dec.conceal(out);
    }, opts),
  );
  dec.destroy();
}

const loadavg = (await import('node:os')).loadavg();
report('dsp-codecs', rows, {
  loadAverage1m: round(loadavg[0]!, 2),
  input: 'espeak-ng speech -20 dBFS + pink noise -50 dBFS, 48 kHz mono, 20 ms frames',
  opus: { library: 'libopus via @evan/opus wasm, VOIP, 48 kHz mono', defaults: D },
});

// Fastest batch, CPU time per call and the extras, which the harness's table does not show.
console.table(
  rows.map((r) => ({
    name: r.name,
    minUs: r.minUs,
    cpuUs: r.cpuUs,
    ...(r.bareLibraryUs === undefined ? {} : { bareLibraryUs: r.bareLibraryUs }),
    ...(r.meanPacketBytes === undefined ? {} : { meanPacketBytes: r.meanPacketBytes }),
  })),
);
const cores = (await import('node:os')).cpus().length;
console.log(`load average (1 min) at the end: ${round(loadavg[0]!, 2)} on ${cores} cores`);
