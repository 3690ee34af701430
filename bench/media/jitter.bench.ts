// Jitter buffer under loss and jitter (issue 12, "A benchmark of the jitter buffer under 5 % loss
// and 30 ms jitter"): espeak-ng speech (20 s, 48 kHz) encoded with the WASM libopus encoder in
// 10 ms and 20 ms packets (32 kbps, VOIP, complexity 5, in-band FEC for 5 % loss, DTX off), sent
// when each packet is complete, dropped at 5 % random loss and delivered after 5 ms + U(0, 30) ms
// (seeded), into the SDK's JitterBuffer pulled every 10 ms — once moving its delay by whole
// frames only, once with time-scale modification (TimeStretcher, WSOLA), same packets, same
// losses, same arrival times, same run. Clean rows (no loss, no jitter) are the codec-only
// reference.
//
// Reported per condition (means over seeds): the delay measured on the audio itself (send of a
// sample → its play-out, from a per-frame alignment of the played stream against the sent
// speech), the buffer's own delay (arrival → play-out of the fastest packets), speech quality of
// what is heard (log-spectral distance and segmental SI-SDR per 20 ms frame at its aligned
// position), and how often each play-out operation ran and its cost in µs.
// Measurements, not tests: no goal is set.
// Run: npm run bench media/jitter
import { JitterBuffer } from '../../packages/sdk/src/receive/JitterBuffer.js';
import {
  JITTER_OPERATIONS,
  type JitterOperationCounts,
} from '../../packages/sdk/src/receive/playoutOperations.js';
import {
  bestLag,
  fftInPlace,
  FS,
  rng,
  scaleTo,
  siSdr,
  speechTrack,
} from '../../packages/testing/src/signals.js';
import { WasmOpusDecoder } from '../../packages/wasm-dsp/src/opus/WasmOpusDecoder.js';
import { WasmOpusEncoder } from '../../packages/wasm-dsp/src/opus/WasmOpusEncoder.js';
import { TimeStretcher } from '../../packages/wasm-dsp/src/TimeStretcher.js';
import { report, round, type BenchRow } from '../lib/harness.js';

const SECONDS = 20;
const SEEDS = [1, 2, 3, 4];
const BITRATE_BPS = 32_000;
const LOSS_PCT = 5;
/** One-way base delay and uniform jitter on top of it (seeded), in ms. */
const BASE_DELAY_MS = 5;
const JITTER_MS = 30;
/**
 * The playback clock: pulls of 10 ms (a worker or timer clock) and of one 128-sample render
 * quantum (a clock fed at the audio thread's pace), starting at this phase, ms.
 */
const PULLS = [480, 128];
const PULL_PHASE_MS = 3;
/** Analysis frames of the quality and delay measurement: 20 ms. */
const FRAME = 960;
/** Speech frames: played frame level within this many dB of the loudest played frame. */
const SPEECH_FRAME_RANGE_DB = 40;
/** Alignment search: ± this many ms around the previous lag, at 12 kHz then refined. */
const SEARCH_MS = 40;
const DECIMATE = 4;
/** A frame whose best normalised correlation is below this keeps the previous lag. */
const ALIGN_MIN_CORRELATION = 0.5;
/** The previous lag is kept unless another correlates better by this much. */
const KEEP_LAG_MARGIN = 0.02;
/** Window of the lag track, samples (60 ms): long enough that a pitch period off does not fit. */
const TRACK_WINDOW = 2_880;
/** LSD band (Hz) and spectral floor below the reference frame's peak bin (dB), as media/loss. */
const LSD_LOW_HZ = 100;
const LSD_HIGH_HZ = 8_000;
const LSD_FLOOR_DB = 60;
const FFT_SIZE = 1024;
/** Segmental SI-SDR is clamped per frame to this range (as segmental SNR conventionally is). */
const SEG_MIN_DB = -10;
const SEG_MAX_DB = 35;

interface Encoded {
  packets: Uint8Array[];
  packetSamples: number;
  lookaheadSamples: number;
}

async function encodeTrack(signal: Float32Array, frameMs: 10 | 20): Promise<Encoded> {
  const enc = await WasmOpusEncoder.create({
    frameMs,
    bitrateBps: BITRATE_BPS,
    fec: true,
    packetLossPercent: LOSS_PCT,
    dtx: false,
  });
  const n = enc.frameSamples;
  const packets: Uint8Array[] = [];
  for (let s = 0; s + n <= signal.length; s += n)
    packets.push(enc.encode(signal.subarray(s, s + n)).slice());
  const lookaheadSamples = enc.lookaheadSamples;
  enc.destroy();
  return { packets, packetSamples: n, lookaheadSamples };
}

interface Network {
  name: string;
  lossPct: number;
  jitterMs: number;
}

interface PlayResult {
  /** Everything pulled from t = 0 (sample j plays at PULL_PHASE_MS + j / 48 ms). */
  out: Float32Array;
  bufferDelayMs: number[];
  ops: JitterOperationCounts;
  late: number;
  concealed: number;
  fecRecovered: number;
  insertedFrames: number;
  droppedFrames: number;
  acceleratedMs: number;
  expandedMs: number;
  stretchRefusals: number;
  lost: number;
}

async function play(
  enc: Encoded,
  net: Network,
  seed: number,
  stretch: boolean,
  pullSamples: number,
): Promise<PlayResult> {
  const jb = new JitterBuffer({
    decoder: await WasmOpusDecoder.create(),
    pullSamples,
    ...(stretch && { timeStretcher: await TimeStretcher.create() }),
  });
  const packetMs = enc.packetSamples / (FS / 1_000);
  // Loss and jitter are drawn in the same order whatever the condition: identical per seed.
  const r = rng(seed * 104_729 + 3);
  const arrivals: { k: number; at: number }[] = [];
  let lost = 0;
  for (let k = 0; k < enc.packets.length; k++) {
    const isLost = r() < net.lossPct / 100;
    const jitter = r() * net.jitterMs;
    if (isLost) {
      lost++;
      continue;
    }
    // Sent when the packet's last sample is captured.
    arrivals.push({ k, at: (k + 1) * packetMs + BASE_DELAY_MS + jitter });
  }
  arrivals.sort((a, b) => a.at - b.at);
  const pullMs = pullSamples / (FS / 1_000);
  const pulls = Math.ceil((enc.packets.length * packetMs + 500) / pullMs);
  const out = new Float32Array(pulls * pullSamples);
  const bufferDelayMs: number[] = [];
  let a = 0;
  for (let p = 0; p < pulls; p++) {
    const now = p * pullMs + PULL_PHASE_MS;
    while (a < arrivals.length && arrivals[a]!.at <= now) {
      const { k, at } = arrivals[a++]!;
      jb.push(
        {
          seq: k & 0xffff,
          timestamp: k * enc.packetSamples,
          durationSamples: enc.packetSamples,
          payload: enc.packets[k]!,
        },
        at,
      );
    }
    out.set(jb.pull(now), p * pullSamples);
    if (now > 1_000 && a < arrivals.length) bufferDelayMs.push(jb.getStats().currentDelayMs);
  }
  const s = jb.getStats();
  const ops = jb.getOperationStats();
  jb.close();
  return {
    out,
    bufferDelayMs,
    ops,
    late: s.late,
    concealed: s.concealed,
    fecRecovered: s.fecRecovered,
    insertedFrames: s.insertedFrames,
    droppedFrames: s.droppedFrames,
    acceleratedMs: s.acceleratedMs,
    expandedMs: s.expandedMs,
    stretchRefusals: s.stretchRefusals,
    lost,
  };
}

const hann = Float64Array.from(
  { length: FRAME },
  (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME),
);
const fftRe = new Float64Array(FFT_SIZE);
const fftIm = new Float64Array(FFT_SIZE);

/** Power spectrum in dB of one Hann-windowed 20 ms frame (zero-padded to 1024), bins lo..hi. */
function logPowerDb(x: Float32Array, start: number, lo: number, hi: number): Float64Array {
  fftRe.fill(0);
  fftIm.fill(0);
  for (let i = 0; i < FRAME; i++) fftRe[i] = (x[start + i] ?? 0) * hann[i]!;
  fftInPlace(fftRe, fftIm);
  const out = new Float64Array(hi - lo + 1);
  for (let k = lo; k <= hi; k++)
    out[k - lo] = 10 * Math.log10(fftRe[k]! ** 2 + fftIm[k]! ** 2 + 1e-30);
  return out;
}

/**
 * Log-spectral distance of one frame in dB (Gray & Markel, IEEE Trans. ASSP 24(5), 1976), as
 * bench/media/loss computes it: RMS over 100 Hz–8 kHz of the log power difference, both spectra
 * floored 60 dB below the reference frame's peak bin.
 */
function frameLsdDb(ref: Float32Array, refStart: number, deg: Float32Array, degStart: number) {
  const lo = Math.ceil((LSD_LOW_HZ * FFT_SIZE) / FS);
  const hi = Math.floor((LSD_HIGH_HZ * FFT_SIZE) / FS);
  const pr = logPowerDb(ref, refStart, lo, hi);
  const pd = logPowerDb(deg, degStart, lo, hi);
  let peak = -Infinity;
  for (const v of pr) peak = Math.max(peak, v);
  const floor = peak - LSD_FLOOR_DB;
  let sq = 0;
  for (let k = 0; k < pr.length; k++)
    sq += (Math.max(pr[k]!, floor) - Math.max(pd[k]!, floor)) ** 2;
  return Math.sqrt(sq / pr.length);
}

/** Boxcar-decimated copy (sum of `DECIMATE` samples) for the coarse alignment search. */
function decimate(x: Float32Array): Float64Array {
  const y = new Float64Array(Math.floor(x.length / DECIMATE));
  for (let i = 0; i < y.length; i++) {
    let s = 0;
    for (let k = 0; k < DECIMATE; k++) s += x[i * DECIMATE + k]!;
    y[i] = s;
  }
  return y;
}

function ncc(
  a: ArrayLike<number>,
  aStart: number,
  b: ArrayLike<number>,
  bStart: number,
  n: number,
) {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[bStart + i] ?? 0;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa * bb > 1e-20 ? ab / Math.sqrt(aa * bb) : 0;
}

interface Score {
  meanDelayMs: number;
  p95DelayMs: number;
  lsdDb: number;
  segSiSdrDb: number;
  alignedPct: number;
  speechFrames: number;
}

/** Best lag (`out` behind `ref`) within ±`search` decimated samples of `centre`, or NaN. */
function searchLag(
  ref: Float32Array,
  refD: Float64Array,
  out: Float32Array,
  outD: Float64Array,
  at: number,
  len: number,
  centre: number,
  keepMargin: number,
): { lag: number; correlation: number } {
  const search = Math.round((SEARCH_MS * FS) / 1_000 / DECIMATE);
  const atD = at / DECIMATE;
  const nD = len / DECIMATE;
  const c0 = Math.round(centre / DECIMATE);
  let best = -2;
  let bestL = c0;
  let atCentre = -2;
  for (let l = c0 - search; l <= c0 + search; l++) {
    const start = atD - l;
    if (start < 0 || start + nD > refD.length) continue;
    const c = ncc(outD, atD, refD, start, nD);
    if (l === c0) atCentre = c;
    if (c > best) {
      best = c;
      bestL = l;
    }
  }
  // Stay on the previous lag unless another matches clearly better: voiced speech also
  // correlates one pitch period off.
  let fine = best - atCentre < keepMargin ? centre : bestL * DECIMATE;
  const coarse = fine;
  let fineBest = -2;
  for (let l = coarse - DECIMATE; l <= coarse + DECIMATE; l++) {
    if (at - l < 0 || at - l + len > ref.length) continue;
    const c = ncc(out, at, ref, at - l, len);
    if (c > fineBest) {
      fineBest = c;
      fine = l;
    }
  }
  return { lag: fine, correlation: fineBest };
}

/**
 * The played stream against the sent speech. Its delay changes by stretched periods and whole
 * frames, so one global lag cannot align it:
 * - **delay**: a lag track over the loud 20 ms frames of the output, each matched with a 60 ms
 *   window within ±40 ms of the previous lag (normalised cross-correlation at 12 kHz, refined
 *   at 48 kHz; the previous lag is kept unless another correlates better by 0.02, and when
 *   nothing correlates ≥ 0.5, e.g. concealment); sample j plays at 3 ms + j/48 and its match
 *   was captured at (j − lag)/48, so lag/48 + 3 ms is that frame's send → play-out delay;
 * - **quality**: each frame then takes its own best match within ±40 ms of the track (20 ms
 *   window), where its LSD and SI-SDR are computed — the same for both modes, so the
 *   comparison is fair, and a splice or concealment is judged by how close it sounds to the
 *   nearest speech it stands for.
 */
function score(ref: Float32Array, out: Float32Array): Score {
  const refD = decimate(ref);
  const outD = decimate(out);
  const frames = Math.floor(out.length / FRAME);
  const levelDb: number[] = [];
  for (let f = 0; f < frames; f++) {
    let e = 0;
    for (let i = f * FRAME; i < (f + 1) * FRAME; i++) e += out[i]! ** 2;
    levelDb.push(10 * Math.log10(e / FRAME + 1e-30));
  }
  const loudest = Math.max(...levelDb);
  let lag = bestLag(ref, out, FS / 2);
  const delays: number[] = [];
  const lsd: number[] = [];
  const seg: number[] = [];
  let aligned = 0;
  for (let f = 0; f < frames; f++) {
    if (levelDb[f]! < loudest - SPEECH_FRAME_RANGE_DB) continue;
    const j = f * FRAME;
    const jw = j - (TRACK_WINDOW - FRAME) / 2;
    if (jw < 0 || jw + TRACK_WINDOW > out.length) continue;
    const track = searchLag(ref, refD, out, outD, jw, TRACK_WINDOW, lag, KEEP_LAG_MARGIN);
    if (track.correlation >= ALIGN_MIN_CORRELATION) {
      lag = track.lag;
      aligned++;
    }
    const own = searchLag(ref, refD, out, outD, j, FRAME, lag, 0).lag;
    const refStart = j - own;
    if (j - lag < 0 || refStart < 0 || refStart + FRAME > ref.length) continue;
    delays.push(PULL_PHASE_MS + (lag * 1_000) / FS);
    lsd.push(frameLsdDb(ref, refStart, out, j));
    const s = siSdr(ref.subarray(refStart, refStart + FRAME), out.subarray(j, j + FRAME));
    seg.push(Math.min(SEG_MAX_DB, Math.max(SEG_MIN_DB, s)));
  }
  const sorted = [...delays].sort((x, y) => x - y);
  return {
    meanDelayMs: mean(delays),
    p95DelayMs: sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))]!,
    lsdDb: mean(lsd),
    segSiSdrDb: mean(seg),
    alignedPct: (100 * aligned) / Math.max(1, delays.length),
    speechFrames: delays.length,
  };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);

async function runCondition(
  speech: Float32Array,
  enc: Encoded,
  net: Network,
  stretch: boolean,
  seeds: readonly number[],
  pullSamples: number,
): Promise<BenchRow> {
  const ref = speech.subarray(0, enc.packets.length * enc.packetSamples);
  const scores: Score[] = [];
  const results: PlayResult[] = [];
  for (const seed of seeds) {
    const res = await play(enc, net, seed, stretch, pullSamples);
    results.push(res);
    scores.push(score(ref, res.out));
  }
  const audioS = (seeds.length * enc.packets.length * enc.packetSamples) / FS;
  const ops: Record<string, { perSecond: number; meanUs: number; count: number }> = {};
  for (const name of JITTER_OPERATIONS) {
    const count = results.reduce((s, r) => s + r.ops[name].count, 0);
    const us = results.reduce((s, r) => s + r.ops[name].totalUs, 0);
    if (count > 0)
      ops[name] = {
        count,
        perSecond: round(count / audioS, 2),
        meanUs: round(us / count, 1),
      };
  }
  const sum = (f: (r: PlayResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const packetMs = enc.packetSamples / 48;
  return {
    name: `jitter.${packetMs}ms.pull${pullSamples}.${net.name}.${stretch ? 'stretch' : 'frames'}`,
    median: round(mean(scores.map((s) => s.meanDelayMs)), 1),
    unit: 'ms mean delay (send → play-out, audio-measured)',
    p95DelayMs: round(mean(scores.map((s) => s.p95DelayMs)), 1),
    bufferDelayMs: round(mean(results.map((r) => mean(r.bufferDelayMs))), 1),
    lsdDb: round(mean(scores.map((s) => s.lsdDb)), 3),
    segSiSdrDb: round(mean(scores.map((s) => s.segSiSdrDb)), 2),
    alignedPct: round(mean(scores.map((s) => s.alignedPct)), 1),
    packetMs,
    pullSamples,
    timeStretching: stretch,
    lossPct: net.lossPct,
    jitterMs: net.jitterMs,
    lostPackets: sum((r) => r.lost),
    latePackets: sum((r) => r.late),
    concealed: sum((r) => r.concealed),
    fecRecovered: sum((r) => r.fecRecovered),
    insertedFrames: sum((r) => r.insertedFrames),
    droppedFrames: sum((r) => r.droppedFrames),
    acceleratedMs: round(
      sum((r) => r.acceleratedMs),
      1,
    ),
    expandedMs: round(
      sum((r) => r.expandedMs),
      1,
    ),
    stretchRefusals: sum((r) => r.stretchRefusals),
    operations: ops,
    perSeed: scores.map((s) => ({
      delayMs: round(s.meanDelayMs, 1),
      lsdDb: round(s.lsdDb, 3),
      segSiSdrDb: round(s.segSiSdrDb, 2),
    })),
    lookaheadMs: round(enc.lookaheadSamples / 48, 2),
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const speech = scaleTo(speechTrack(FS * SECONDS, 'en-us', 400), -20);
  const rows: BenchRow[] = [];
  const impaired: Network = { name: 'loss5jitter30', lossPct: LOSS_PCT, jitterMs: JITTER_MS };
  const clean: Network = { name: 'clean', lossPct: 0, jitterMs: 0 };
  for (const frameMs of [10, 20] as const) {
    const enc = await encodeTrack(speech, frameMs);
    for (const pullSamples of PULLS) {
      for (const [net, seeds] of [
        [clean, [1]],
        [impaired, SEEDS],
      ] as const) {
        const off = await runCondition(speech, enc, net, false, seeds, pullSamples);
        const on = await runCondition(speech, enc, net, true, seeds, pullSamples);
        rows.push(off, on, {
          name: `jitter.${frameMs}ms.pull${pullSamples}.${net.name}.stretchGain`,
          median: round(on.median - off.median, 1),
          unit: 'ms mean delay (stretch − frames)',
          lsdDeltaDb: round((on['lsdDb'] as number) - (off['lsdDb'] as number), 3),
          segSiSdrDeltaDb: round((on['segSiSdrDb'] as number) - (off['segSiSdrDb'] as number), 2),
          bufferDelayDeltaMs: round(
            (on['bufferDelayMs'] as number) - (off['bufferDelayMs'] as number),
            1,
          ),
        });
      }
    }
  }
  for (const row of rows) {
    const ops = row['operations'] as
      Record<string, { perSecond: number; meanUs: number }> | undefined;
    console.log(
      `${row.name}: delay ${row.median} ms (p95 ${String(row['p95DelayMs'])}), buffer ${String(row['bufferDelayMs'])} ms, ` +
        `LSD ${String(row['lsdDb'] ?? row['lsdDeltaDb'])} dB, segSI-SDR ${String(row['segSiSdrDb'] ?? row['segSiSdrDeltaDb'])} dB` +
        (ops
          ? '\n    ' +
            Object.entries(ops)
              .map(([k, v]) => `${k} ${v.perSecond}/s ${v.meanUs} µs`)
              .join(', ')
          : ''),
    );
  }
  report('media-jitter', rows, {
    speech: `espeak-ng en-us Harvard sentences, ${SECONDS} s at 48 kHz, -20 dBFS RMS, 400 ms pauses`,
    encoder: `WasmOpusEncoder (libopus wasm) 10 and 20 ms, ${BITRATE_BPS} bps VBR, VOIP, complexity 5, FEC on with expected loss ${LOSS_PCT} %, DTX off`,
    network: `packet sent when complete; ${LOSS_PCT} % Bernoulli loss; arrival = send + ${BASE_DELAY_MS} ms + U(0, ${JITTER_MS}) ms (seeded, same draws with and without stretching); clean rows: no loss, no jitter`,
    playback: `JitterBuffer defaults (minDelayMs 20, quantile 0.95), pulled in ${PULLS.join(' and ')}-sample frames from ${PULL_PHASE_MS} ms on`,
    seeds: SEEDS,
    metrics: {
      delay:
        'per loud 20 ms played frame: lag of its best match in the sent speech (±40 ms of the previous frame, NCC at 12 kHz refined at 48 kHz) = send → play-out of that audio, incl. packetisation, 5 ms base network delay and the codec lookahead (lookaheadMs); mean and p95 over frames',
      bufferDelayMs:
        "mean of the buffer's currentDelayMs (arrival → play-out of the fastest packets) over pulls after 1 s",
      lsd: `per aligned frame, RMS over ${LSD_LOW_HZ} Hz-${LSD_HIGH_HZ} Hz of the log power spectrum difference (Hann, ${FFT_SIZE}-point FFT, floor ${LSD_FLOOR_DB} dB below the reference peak bin), mean over frames within ${SPEECH_FRAME_RANGE_DB} dB of the loudest (Gray & Markel 1976; as media/loss)`,
      segSiSdr: `SI-SDR per aligned 20 ms frame clamped to [${SEG_MIN_DB}, ${SEG_MAX_DB}] dB, mean`,
      operations:
        'JitterBuffer.getOperationStats summed over seeds: runs per second of audio and mean µs per run (decoding included)',
    },
    elapsedMs: Math.round(performance.now() - started),
  });
}

await main();
