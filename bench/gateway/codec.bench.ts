// Codec throughput: Concord framing (FrameCodec encode + decode, with every decoder limit and
// schema check) against JSON.stringify + JSON.parse (no validation at all), same run, same
// messages. Run: npm run bench gateway/codec (after `npx tsc -b`)
//
// The codec measured is the tsc build (`@concord/protocol` → packages/protocol/dist), which is
// what the gateway and the SDK run: tsx's transform of the sources wraps every closure in a
// `__name()` call (esbuild keepNames), which triples the decoder's cost. The source build is
// timed too (`tsxSourceUs`) so the difference stays visible.
import { FrameCodec, Op, type Message, type Participant } from '@concord/protocol';
import { FrameCodec as SourceFrameCodec } from '../../packages/protocol/src/index.js';
import { toParticipant } from './trace.js';
import { report, round, timeUs, type BenchRow, type Timing } from '../lib/harness.js';

const codec = new FrameCodec();
const sourceCodec = new SourceFrameCodec();
const room = 'guild-8412:voice-general';
const userId = (i: number) => String(1_093_845_712_345_678_900n + BigInt(i * 7_919));
const participants: Participant[] = Array.from({ length: 100 }, (_, i) =>
  toParticipant({
    userId: userId(i),
    name: `Member ${i} ${['Martin', 'Okafor', 'Nguyen', 'Silva'][i % 4]!}`,
    muted: i % 3 === 0,
    deafened: i % 17 === 0,
    speaking: i % 11 === 0,
    ssrc: (0x9e3779b9 * (i + 1)) >>> 0,
  }),
);

const cases: Array<{ name: string; message: Message; opts?: Parameters<typeof timeUs>[1] }> = [
  { name: 'heartbeat', message: { op: Op.Heartbeat, d: { nonce: 918_273, seq: 1_234 } } },
  { name: 'speaking.request', message: { op: Op.Speaking, d: { room, speaking: true } } },
  {
    name: 'voiceState.request',
    message: { op: Op.UpdateVoiceState, d: { req: 17, room, muted: true, deafened: false } },
  },
  {
    name: 'dispatch.SPEAKING',
    message: {
      op: Op.Dispatch,
      seq: 4_242,
      t: 'SPEAKING',
      d: { ssrc: participants[7]!.ssrc, speaking: true },
    },
  },
  {
    name: 'dispatch.VOICE_STATE_UPDATE',
    message: {
      op: Op.Dispatch,
      seq: 4_243,
      t: 'VOICE_STATE_UPDATE',
      d: { ssrc: participants[7]!.ssrc, muted: true, deafened: false },
    },
  },
  {
    name: 'dispatch.ROOM_JOINED.100',
    message: { op: Op.Dispatch, seq: 1, t: 'ROOM_JOINED', d: { req: 1, room, participants } },
    opts: { batches: 31, batchSize: 20, warmupCalls: 300 },
  },
  {
    name: 'ready',
    message: {
      op: Op.Ready,
      d: {
        sessionId: 's_k3j9x0a1b2c3',
        user: { id: userId(3), name: 'Member 3 Silva' },
        resumeWindowMs: 60_000,
        resumeSecret: 'Yq3dP0v8kQ2mX7rT9wZ1aB4cE6fG8hJ0',
        tokenExpiresInMs: 3_540_000,
      },
    },
  },
];

/**
 * Times each function `rounds` times, round-robin, and keeps per function the round with the
 * median `medianUs`: on a shared machine a burst of foreign load then spoils one round, not a
 * whole comparison.
 */
function interleaved(fns: Array<() => void>, opts?: Parameters<typeof timeUs>[1], rounds = 3) {
  const runs = fns.map(() => [] as ReturnType<typeof timeUs>[]);
  for (let r = 0; r < rounds; r++) fns.forEach((fn, i) => runs[i]!.push(timeUs(fn, opts)));
  return runs.map((list) => list.sort((a, b) => a.medianUs - b.medianUs)[Math.floor(rounds / 2)]!);
}

const rows: BenchRow[] = [];
let sink = 0; // keeps results alive so nothing is optimized away
for (const { name, message, opts } of cases) {
  const frame = codec.encode(message);
  const text = JSON.stringify(message);
  // Same run, round-robin, so drift affects both alike.
  const [concord, json, viaSource, enc, dec, jsonEnc, jsonDec] = interleaved(
    [
      () => {
        sink += codec.decode(codec.encode(message)).length;
      },
      () => {
        sink += (JSON.parse(JSON.stringify(message)) as unknown[]) === null ? 0 : 1;
      },
      () => {
        sink += sourceCodec.decode(sourceCodec.encode(message)).length;
      },
      () => {
        sink += codec.encode(message).length;
      },
      () => {
        sink += codec.decode(frame).length;
      },
      () => {
        sink += JSON.stringify(message).length;
      },
      () => {
        sink += (JSON.parse(text) as unknown) === null ? 0 : 1;
      },
    ],
    opts,
  ) as [Timing, Timing, Timing, Timing, Timing, Timing, Timing];
  const bytes = { concordBytes: frame.length, jsonBytes: Buffer.byteLength(text) };
  rows.push({
    name: `codec.${name}.concord.roundtrip`,
    median: round(concord.medianUs),
    p95: round(concord.p95Us),
    unit: 'us/op',
    messagesPerSecond: Math.round(1e6 / concord.medianUs),
    encodeUs: round(enc.medianUs),
    decodeUs: round(dec.medianUs),
    vsJson: round(concord.medianUs / json.medianUs, 2),
    tsxSourceUs: round(viaSource.medianUs),
    ...bytes,
  });
  rows.push({
    name: `codec.${name}.json.roundtrip`,
    median: round(json.medianUs),
    p95: round(json.p95Us),
    unit: 'us/op',
    messagesPerSecond: Math.round(1e6 / json.medianUs),
    encodeUs: round(jsonEnc.medianUs),
    decodeUs: round(jsonDec.medianUs),
    ...bytes,
  });
}

// Server fan-out of one event to the 9 others of a room of 10: encode once and stamp each seq
// (encodeEvent + encodeDispatch + frame) vs one JSON.stringify per recipient (seq differs).
{
  const d = { ssrc: participants[7]!.ssrc, speaking: true };
  let seq = 1;
  const [concord, json] = interleaved([
    () => {
      const ev = codec.encodeEvent('SPEAKING', d);
      for (let i = 0; i < 9; i++) sink += codec.frame([codec.encodeDispatch(seq++, ev)]).length;
    },
    () => {
      for (let i = 0; i < 9; i++)
        sink += JSON.stringify({ op: Op.Dispatch, seq: seq++, t: 'SPEAKING', d }).length;
    },
  ]) as [Timing, Timing];
  rows.push({
    name: 'codec.fanout9.SPEAKING.concord.encode',
    median: round(concord.medianUs),
    p95: round(concord.p95Us),
    unit: 'us/event (9 recipients)',
    vsJson: round(concord.medianUs / json.medianUs, 2),
  });
  rows.push({
    name: 'codec.fanout9.SPEAKING.json.encode',
    median: round(json.medianUs),
    p95: round(json.p95Us),
    unit: 'us/event (9 recipients)',
  });
}

report('gateway-codec', rows, {
  note: 'roundtrip = encode + decode of one frame holding one message; Concord decode validates limits and schemas, JSON.parse validates nothing',
});
console.table(
  rows
    .filter((r) => r.name.endsWith('.roundtrip'))
    .map((r) => ({
      name: r.name,
      usPerOp: r.median,
      messagesPerSecond: r['messagesPerSecond'],
      encodeUs: r['encodeUs'],
      decodeUs: r['decodeUs'],
      vsJson: r['vsJson'] ?? '',
      bytes: r.name.includes('.json.') ? r['jsonBytes'] : r['concordBytes'],
    })),
);
if (sink === -1) console.log(sink);
