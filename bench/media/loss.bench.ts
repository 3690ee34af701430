// Loss resilience (issue 5, "Loss resilience"): espeak-ng speech (10 s, 48 kHz) encoded with the
// WASM libopus encoder (20 ms frames, 32 kbps, VOIP, complexity 5), packets dropped at 0, 2, 5 and
// 10 % random loss and by a bursty (Gilbert) model, delivered with 5–25 ms of seeded jitter into
// the SDK's JitterBuffer, which is pulled every 20 ms as the playback side does. Each condition
// runs with in-band FEC on (expected loss set to the loss rate, as the bitrate controller sets it)
// and off (same expected-loss setting, same loss pattern), over several seeds. Reported: the share
// of frames played from FEC and from PLC, and two objective quality proxies of the played vs the
// sent speech — SI-SDR (aligned by cross-correlation) and a log-spectral distance.
// Measurements, not tests: no goal is set; the 0 % rows are the same-run codec-only reference.
// Run: npm run bench media/loss
import { JitterBuffer, type JitterFrameKind } from '../../packages/sdk/src/receive/JitterBuffer.js';
import { opusPacketHasLbrr } from '@concord/protocol';
import {
  alignedSiSdr,
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
import { report, round, type BenchRow } from '../lib/harness.js';

const FRAME_MS = 20;
const FRAME_SAMPLES = 960;
const SECONDS = 10;
/** The bitrate; the ABR ladder's default start (48 kbps) runs as a second set. */
const BITRATE_BPS = 32_000;
const EXTRA_BITRATE_BPS = 48_000;
/** One-way base delay and uniform jitter on top of it (seeded), in ms. */
const BASE_DELAY_MS = 5;
const JITTER_MS = 20;
/** Loss patterns and jitter are drawn per seed; the encoded packets are the same for all seeds. */
const SEEDS = [1, 2, 3, 4];
/** Speech frames for the LSD: reference frame level within this many dB of the loudest frame. */
const SPEECH_FRAME_RANGE_DB = 40;
/** LSD band (Hz) and spectral floor below the reference frame's peak bin (dB). */
const LSD_LOW_HZ = 100;
const LSD_HIGH_HZ = 8_000;
const LSD_FLOOR_DB = 60;
const FFT_SIZE = 1024;

interface LossModel {
  name: string;
  /** Mean loss in percent (also the encoder's expected-loss setting). */
  lossPct: number;
  /** Mean burst length in packets (1 = independent random loss). */
  burst: number;
}

const MODELS: LossModel[] = [
  { name: 'random0', lossPct: 0, burst: 1 },
  { name: 'random2', lossPct: 2, burst: 1 },
  { name: 'random5', lossPct: 5, burst: 1 },
  { name: 'random10', lossPct: 10, burst: 1 },
  { name: 'bursty5', lossPct: 5, burst: 3 },
  { name: 'bursty10', lossPct: 10, burst: 3 },
];

/**
 * Which packets are lost. `burst` = 1: independent (Bernoulli) loss. Otherwise a Gilbert
 * two-state model (Gilbert 1960; RFC 3611 §4.7.2 uses the same bursts/gaps view): every packet
 * in the bad state is lost; P(bad→good) = 1/burst gives the mean burst length, and
 * P(good→bad) = loss·r/(1−loss) the stationary loss rate.
 */
function lossPattern(n: number, model: LossModel, seed: number): boolean[] {
  const r = rng(seed * 7919 + 17);
  const loss = model.lossPct / 100;
  const lost: boolean[] = [];
  if (model.burst <= 1) {
    for (let i = 0; i < n; i++) lost.push(r() < loss);
    return lost;
  }
  const toGood = 1 / model.burst;
  const toBad = (loss * toGood) / (1 - loss);
  let bad = false;
  for (let i = 0; i < n; i++) {
    bad = bad ? r() >= toGood : r() < toBad;
    lost.push(bad);
  }
  return lost;
}

/** Packets of the whole track with one encoder configuration (copied out of the encoder). */
async function encodeTrack(
  signal: Float32Array,
  fec: boolean,
  lossPct: number,
  bitrateBps: number,
) {
  const enc = await WasmOpusEncoder.create({
    frameMs: FRAME_MS,
    bitrateBps,
    fec,
    packetLossPercent: lossPct,
    dtx: false,
  });
  const packets: Uint8Array[] = [];
  for (let s = 0; s + FRAME_SAMPLES <= signal.length; s += FRAME_SAMPLES)
    packets.push(enc.encode(signal.subarray(s, s + FRAME_SAMPLES)).slice());
  const lookahead = enc.lookaheadSamples;
  enc.destroy();
  return { packets, lookahead };
}

interface PlayResult {
  /** The played frames placed at the position of the sent frame each stands for. */
  mapped: Float32Array;
  /** The played stream as heard (inserted frames included, dropped ones missing). */
  played: Float32Array;
  kinds: Record<JitterFrameKind, number>;
  lostPackets: number;
  late: number;
  insertedFrames: number;
  droppedFrames: number;
  targetDelayMs: number;
}

/**
 * Sends `packets` every 20 ms through loss and jitter into a JitterBuffer and pulls it every
 * 20 ms (a pull clock offset from the send clock by 7 ms) until every sent frame is accounted.
 */
async function play(packets: Uint8Array[], lost: boolean[], seed: number): Promise<PlayResult> {
  const jb = new JitterBuffer({ decoder: await WasmOpusDecoder.create() });
  const r = rng(seed * 104_729 + 3);
  const n = packets.length;
  const arrivals: { i: number; at: number }[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * FRAME_MS + BASE_DELAY_MS + r() * JITTER_MS;
    if (!lost[i]) arrivals.push({ i, at });
  }
  arrivals.sort((a, b) => a.at - b.at);
  const kinds: Record<JitterFrameKind, number> = {
    silence: 0,
    decoded: 0,
    fec: 0,
    plc: 0,
    comfort: 0,
    inserted: 0,
  };
  const mapped = new Float32Array(n * FRAME_SAMPLES);
  const played: Float32Array[] = [];
  // Which sent frame the next played frame stands for: decoded, FEC and PLC frames each stand
  // for the next sent frame; frames the buffer dropped to lower its delay (stats.droppedFrames)
  // are skipped; inserted and comfort frames stand for none (they stretch time).
  // The buffer starts with the lowest packet that has arrived when it starts playing (the
  // first packets may be lost): the first played frame stands for that one.
  let next = -1;
  let lowestArrived = Number.POSITIVE_INFINITY;
  let droppedSeen = 0;
  let a = 0;
  const maxPulls = n + 200; // bounded: the buffer's delay is at most 200 ms (10 frames)
  for (let k = 0; k < maxPulls && next < n; k++) {
    const now = k * FRAME_MS + 7;
    while (a < arrivals.length && arrivals[a]!.at <= now) {
      const { i, at } = arrivals[a++]!;
      if (next < 0) lowestArrived = Math.min(lowestArrived, i);
      jb.push({ seq: i & 0xffff, timestamp: i * FRAME_SAMPLES, payload: packets[i]! }, at);
    }
    const frame = jb.pull(now);
    const kind = jb.lastFrameKind;
    kinds[kind]++;
    if (next < 0) {
      if (kind === 'silence') continue;
      next = lowestArrived;
    }
    const dropped = jb.getStats().droppedFrames;
    next += dropped - droppedSeen;
    droppedSeen = dropped;
    if (kind !== 'silence') played.push(frame.slice());
    if ((kind === 'decoded' || kind === 'fec' || kind === 'plc') && next < n) {
      mapped.set(frame, next * FRAME_SAMPLES);
      next++;
    }
  }
  const stats = jb.getStats();
  jb.close();
  const out = new Float32Array(played.length * FRAME_SAMPLES);
  played.forEach((f, j) => out.set(f, j * FRAME_SAMPLES));
  return {
    mapped,
    played: out,
    kinds,
    lostPackets: lost.filter(Boolean).length,
    late: stats.late,
    insertedFrames: stats.insertedFrames,
    droppedFrames: stats.droppedFrames,
    targetDelayMs: stats.targetDelayMs,
  };
}

const hann = Float64Array.from(
  { length: FRAME_SAMPLES },
  (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME_SAMPLES),
);

/** Power spectrum in dB of one Hann-windowed 20 ms frame (zero-padded to 1024), bins lo..hi. */
function logPowerDb(x: Float32Array, start: number, lo: number, hi: number): Float64Array {
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  for (let i = 0; i < FRAME_SAMPLES; i++) re[i] = (x[start + i] ?? 0) * hann[i]!;
  fftInPlace(re, im);
  const out = new Float64Array(hi - lo + 1);
  for (let k = lo; k <= hi; k++) out[k - lo] = 10 * Math.log10(re[k]! ** 2 + im[k]! ** 2 + 1e-30);
  return out;
}

/**
 * Log-spectral distance in dB (Gray & Markel, "Distance measures for speech processing", IEEE
 * Trans. ASSP 24(5), 1976; the form used in speech coding and bandwidth-extension work):
 * per 20 ms frame t, LSD_t = sqrt( mean_k (P_ref(t,k) − P_deg(t,k))² ) with P the log power
 * spectrum in dB over the bins k in 100 Hz–8 kHz, each spectrum floored 60 dB below the
 * reference frame's peak bin; averaged over speech frames (reference level within 40 dB of the
 * loudest frame). `deg` must be aligned to `ref` sample for sample.
 */
function logSpectralDistanceDb(ref: Float32Array, deg: Float32Array): number {
  const lo = Math.ceil((LSD_LOW_HZ * FFT_SIZE) / FS);
  const hi = Math.floor((LSD_HIGH_HZ * FFT_SIZE) / FS);
  const frames = Math.floor(Math.min(ref.length, deg.length) / FRAME_SAMPLES);
  const energyDb: number[] = [];
  for (let t = 0; t < frames; t++) {
    let e = 0;
    for (let i = t * FRAME_SAMPLES; i < (t + 1) * FRAME_SAMPLES; i++) e += ref[i]! ** 2;
    energyDb.push(10 * Math.log10(e / FRAME_SAMPLES + 1e-30));
  }
  const loudest = Math.max(...energyDb);
  let sum = 0;
  let count = 0;
  for (let t = 0; t < frames; t++) {
    if (energyDb[t]! < loudest - SPEECH_FRAME_RANGE_DB) continue;
    const pr = logPowerDb(ref, t * FRAME_SAMPLES, lo, hi);
    const pd = logPowerDb(deg, t * FRAME_SAMPLES, lo, hi);
    const floor = Math.max(...pr) - LSD_FLOOR_DB;
    let sq = 0;
    for (let k = 0; k < pr.length; k++)
      sq += (Math.max(pr[k]!, floor) - Math.max(pd[k]!, floor)) ** 2;
    sum += Math.sqrt(sq / pr.length);
    count++;
  }
  return count > 0 ? sum / count : Number.NaN;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** SI-SDR and LSD of `deg` against `ref`, aligned by one cross-correlation (|lag| ≤ 0.5 s). */
function quality(ref: Float32Array, deg: Float32Array): { siSdrDb: number; lsdDb: number } {
  const lag = bestLag(ref, deg, FS / 2);
  const aligned = new Float32Array(ref.length);
  for (let i = 0; i < ref.length; i++) aligned[i] = deg[i + lag] ?? 0;
  // = alignedSiSdr(ref, deg) but over the whole reference (the shifted-out tail counts as silence).
  return { siSdrDb: siSdr(ref, aligned), lsdDb: logSpectralDistanceDb(ref, aligned) };
}

async function runCondition(
  speech: Float32Array,
  model: LossModel,
  fec: boolean,
  bitrateBps: number,
  encodings: Map<string, Awaited<ReturnType<typeof encodeTrack>>>,
): Promise<BenchRow> {
  const key = `${fec}|${model.lossPct}|${bitrateBps}`;
  let enc = encodings.get(key);
  if (!enc) encodings.set(key, (enc = await encodeTrack(speech, fec, model.lossPct, bitrateBps)));
  const n = enc.packets.length;
  const ref = speech.subarray(0, n * FRAME_SAMPLES);
  const siSdrMapped: number[] = [];
  const siSdrPlayed: number[] = [];
  const lsd: number[] = [];
  const kinds: Record<string, number> = {};
  let lostPackets = 0;
  let late = 0;
  let inserted = 0;
  let dropped = 0;
  let target = 0;
  for (const seed of SEEDS) {
    const lost = lossPattern(n, model, seed);
    const res = await play(enc.packets, lost, seed);
    for (const [k, v] of Object.entries(res.kinds)) kinds[k] = (kinds[k] ?? 0) + v;
    lostPackets += res.lostPackets;
    late += res.late;
    inserted += res.insertedFrames;
    dropped += res.droppedFrames;
    target += res.targetDelayMs;
    // The mapped stream lags the input by the codec's lookahead, the played one also by the
    // jitter buffer's delay and its inserted frames: both are aligned by cross-correlation.
    const q = quality(ref, res.mapped);
    siSdrMapped.push(q.siSdrDb);
    lsd.push(q.lsdDb);
    siSdrPlayed.push(alignedSiSdr(ref, res.played, FS / 2));
  }
  const frames = n * SEEDS.length;
  const pct = (x: number) => round((100 * x) / frames, 2);
  const kbps = bitrateBps === BITRATE_BPS ? '' : `.${bitrateBps / 1000}k`;
  return {
    name: `loss.${model.name}.fec${fec ? 'On' : 'Off'}${kbps}`,
    median: round(mean(siSdrMapped), 2),
    unit: 'dB SI-SDR',
    lsdDb: round(mean(lsd), 2),
    fecPct: pct(kinds['fec'] ?? 0),
    plcPct: pct(kinds['plc'] ?? 0),
    decodedPct: pct(kinds['decoded'] ?? 0),
    lossPct: model.lossPct,
    meanBurstPackets: model.burst,
    measuredLossPct: pct(lostPackets),
    lbrrPacketsPct: round((100 * enc.packets.filter((p) => opusPacketHasLbrr(p)).length) / n, 1),
    meanPacketBytes: round(enc.packets.reduce((s, p) => s + p.length, 0) / n, 1),
    latePackets: late,
    insertedFrames: inserted,
    droppedFrames: dropped,
    meanTargetDelayMs: round(target / SEEDS.length, 1),
    siSdrPlayedDb: round(mean(siSdrPlayed), 2),
    siSdrPerSeedDb: siSdrMapped.map((x) => round(x, 2)),
    lsdPerSeedDb: lsd.map((x) => round(x, 2)),
    encoder: { fec, packetLossPercent: model.lossPct, bitrateBps },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const speech = scaleTo(speechTrack(FS * SECONDS, 'en-us', 400), -20);
  const rows: BenchRow[] = [];
  const encodings = new Map<string, Awaited<ReturnType<typeof encodeTrack>>>();
  const conditions = [
    ...MODELS.map((m) => [m, BITRATE_BPS] as const),
    ...MODELS.filter((m) => m.burst === 1).map((m) => [m, EXTRA_BITRATE_BPS] as const),
  ];
  for (const [model, bitrateBps] of conditions) {
    for (const fec of [true, false]) {
      const row = await runCondition(speech, model, fec, bitrateBps, encodings);
      rows.push(row);
      console.log(
        `${row.name}: SI-SDR ${row.median} dB, LSD ${String(row['lsdDb'])} dB, ` +
          `FEC ${String(row['fecPct'])}%, PLC ${String(row['plcPct'])}%, ` +
          `loss ${String(row['measuredLossPct'])}%, LBRR in ${String(row['lbrrPacketsPct'])}% ` +
          `of packets, ${String(row['meanPacketBytes'])} B/packet`,
      );
    }
  }
  // FEC's benefit per condition: the difference FEC on − off (same loss pattern, same seeds).
  for (const on of rows.filter((r) => r.name.includes('.fecOn') && r['lossPct'] !== 0)) {
    const off = rows.find((r) => r.name === on.name.replace('.fecOn', '.fecOff'))!;
    rows.push({
      name: on.name.replace('.fecOn', '.fecGain'),
      median: round(on.median - off.median, 2),
      unit: 'dB SI-SDR (FEC on − off)',
      lsdDeltaDb: round((on['lsdDb'] as number) - (off['lsdDb'] as number), 2),
      plcPctOn: on['plcPct'],
      plcPctOff: off['plcPct'],
      fecPctOn: on['fecPct'],
    });
  }
  report('media-loss', rows, {
    speech: `espeak-ng en-us Harvard sentences, ${SECONDS} s at 48 kHz, -20 dBFS RMS`,
    encoder: `WasmOpusEncoder (libopus, @evan/opus wasm), ${FRAME_MS} ms, ${BITRATE_BPS} bps (rows *.48k: ${EXTRA_BITRATE_BPS} bps) VBR, VOIP, complexity 5, DTX off; expected loss = the condition's loss rate (FEC on and off alike)`,
    network: `arrival = send + ${BASE_DELAY_MS} ms + U(0, ${JITTER_MS}) ms (seeded), pulls every 20 ms (offset 7 ms)`,
    seeds: SEEDS,
    metrics: {
      siSdr:
        'alignedSiSdr (packages/testing) of the sent speech vs the played frames placed at the sent frame they stand for (inserted/comfort frames removed, frames dropped by the buffer left silent); siSdrPlayedDb: the played stream as heard, one global alignment',
      lsd: `RMS over 100 Hz-8 kHz of the log power spectrum difference in dB per 20 ms Hann frame (1024-point FFT), floor ${LSD_FLOOR_DB} dB below the reference peak bin, mean over frames within ${SPEECH_FRAME_RANGE_DB} dB of the loudest (Gray & Markel 1976)`,
      shares:
        'fecPct/plcPct/decodedPct: frames played from in-band FEC / PLC / the packet itself, % of sent frames',
      lbrrPacketsPct:
        'packets carrying in-band FEC (LBRR flag, opusPacketHasLbrr): libopus decides per frame whether the bitrate allows it',
    },
    elapsedMs: Math.round(performance.now() - started),
  });
}

await main();
