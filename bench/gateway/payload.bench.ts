// Payload: bytes on the wire for a deterministic trace of one busy 100-member voice room, with
// Concord framing (MessagePack, 5 ms micro-batching and LZ4 as the gateway does it) against a
// JSON gateway (one `JSON.stringify` text per message, one WebSocket frame each).
// Run: npm run bench gateway/payload
import { FrameCodec, Op, type Message } from '../../packages/protocol/src/index.js';
import { report, round, type BenchRow } from '../lib/harness.js';
import { buildTrace, type TraceEntry } from './trace.js';

const BATCH_WINDOW_MS = 5;
const GOAL_PCT = 60;
const OP_NAMES = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/** WebSocket frame header bytes (RFC 6455 §5.2); client frames carry a 4-byte mask key. */
function wsHeaderBytes(payloadBytes: number, dir: 'up' | 'down'): number {
  const base = payloadBytes <= 125 ? 2 : payloadBytes <= 0xffff ? 4 : 10;
  return base + (dir === 'up' ? 4 : 0);
}

function typeOf(m: Message): string {
  return m.op === Op.Dispatch ? m.t : (OP_NAMES[m.op] ?? String(m.op));
}

interface Totals {
  frames: number;
  payloadBytes: number;
  wireBytes: number;
}

const codec = new FrameCodec(); // gateway defaults: LZ4 from 512 B

/**
 * Frames one connection-direction stream the way FrameBatcher does: the first queued message
 * opens a `windowMs` window; messages queued before it ends share the frame; HELLO, READY and
 * HEARTBEAT_ACK flush at once (the gateway's `sendNow`); at most 256 messages per frame.
 */
function frameStream(entries: TraceEntry[], windowMs: number): Totals {
  const totals: Totals = { frames: 0, payloadBytes: 0, wireBytes: 0 };
  let pending: Uint8Array[] = [];
  let windowEndMs = 0;
  const dir = entries[0]?.dir ?? 'down';
  const flush = () => {
    if (pending.length === 0) return;
    const frame = codec.frame(pending);
    totals.frames++;
    totals.payloadBytes += frame.length;
    totals.wireBytes += frame.length + wsHeaderBytes(frame.length, dir);
    pending = [];
  };
  for (const e of entries) {
    if (pending.length > 0 && e.atMs >= windowEndMs) flush();
    if (pending.length === 0) windowEndMs = e.atMs + windowMs;
    pending.push(codec.encodeMessage(e.message));
    if (windowMs === 0 || e.flushNow || pending.length >= codec.limits.maxMessagesPerBatch) flush();
  }
  flush();
  return totals;
}

interface TypeStats {
  count: number;
  json: number;
  concord: number;
}

/** Concord (batched and not) and JSON byte totals of one trace. */
function analyze(trace: TraceEntry[]) {
  // Streams per connection and direction, in time order.
  const streams = new Map<string, TraceEntry[]>();
  for (const e of trace) {
    const key = `${e.conn}:${e.dir}`;
    let list = streams.get(key);
    if (!list) streams.set(key, (list = []));
    list.push(e);
  }
  const sum = (windowMs: number, dir?: 'up' | 'down'): Totals => {
    const t: Totals = { frames: 0, payloadBytes: 0, wireBytes: 0 };
    for (const [key, list] of streams) {
      if (dir && !key.endsWith(dir)) continue;
      const s = frameStream(list, windowMs);
      t.frames += s.frames;
      t.payloadBytes += s.payloadBytes;
      t.wireBytes += s.wireBytes;
    }
    return t;
  };
  const json: Totals = { frames: 0, payloadBytes: 0, wireBytes: 0 };
  const jsonByDir = { up: 0, down: 0 };
  const byType = new Map<string, TypeStats>();
  for (const e of trace) {
    const text = Buffer.byteLength(JSON.stringify(e.message));
    json.frames++;
    json.payloadBytes += text;
    json.wireBytes += text + wsHeaderBytes(text, e.dir);
    jsonByDir[e.dir] += text + wsHeaderBytes(text, e.dir);
    const type = typeOf(e.message);
    const s = byType.get(type) ?? { count: 0, json: 0, concord: 0 };
    s.count++;
    s.json += text;
    // Alone in its own frame (header byte, LZ4 when large), as with batching off.
    s.concord += codec.frame([codec.encodeMessage(e.message)]).length;
    byType.set(type, s);
  }
  return { sum, json, jsonByDir, byType, batched: sum(BATCH_WINDOW_MS), unbatched: sum(0) };
}

const trace = buildTrace({ seed: 42, durationMs: 60_000 });
const { sum, json, jsonByDir, byType, batched, unbatched } = analyze(trace);
const short = analyze(buildTrace({ seed: 42, durationMs: 60_000, ids: 'short' }));
const reduction = (concord: number, base: number) => round((1 - concord / base) * 100, 1);

const rows: BenchRow[] = [];
const totalRow = (name: string, t: Totals, field: 'wireBytes' | 'payloadBytes', note: string) => {
  const pct = reduction(t[field], json[field]);
  rows.push({
    name,
    median: pct,
    unit: '% fewer bytes than JSON',
    goal: `>= ${GOAL_PCT}%`,
    met: pct >= GOAL_PCT,
    concordBytes: t[field],
    jsonBytes: json[field],
    concordFrames: t.frames,
    jsonFrames: json.frames,
    note,
  });
};
totalRow(
  'payload.trace.batched.wire',
  batched,
  'wireBytes',
  '5 ms batching + LZ4 >= 512 B; WebSocket frame headers included',
);
totalRow('payload.trace.batched.payload', batched, 'payloadBytes', 'frame payloads only');
totalRow('payload.trace.unbatched.wire', unbatched, 'wireBytes', 'batching off, LZ4 on');
totalRow('payload.trace.unbatched.payload', unbatched, 'payloadBytes', 'batching off, LZ4 on');
rows.push({
  name: 'payload.trace.shortIds.batched.wire',
  median: reduction(short.batched.wireBytes, short.json.wireBytes),
  unit: '% fewer bytes than JSON',
  concordBytes: short.batched.wireBytes,
  jsonBytes: short.json.wireBytes,
  note: 'same trace with ids like "u42" and room "lobby" (sensitivity to identifier length)',
});
for (const dir of ['down', 'up'] as const) {
  const t = sum(BATCH_WINDOW_MS, dir);
  const pct = reduction(t.wireBytes, jsonByDir[dir]);
  rows.push({
    name: `payload.trace.batched.wire.${dir}`,
    median: pct,
    unit: '% fewer bytes than JSON',
    concordBytes: t.wireBytes,
    jsonBytes: jsonByDir[dir],
    concordFrames: t.frames,
  });
}
for (const [type, s] of [...byType].sort((a, b) => b[1].json - a[1].json)) {
  rows.push({
    name: `payload.type.${type}`,
    median: reduction(s.concord, s.json),
    unit: '% fewer bytes than JSON',
    count: s.count,
    concordBytesPerMessage: round(s.concord / s.count, 1),
    jsonBytesPerMessage: round(s.json / s.count, 1),
    shareOfJsonBytesPct: round((s.json / json.payloadBytes) * 100, 1),
  });
}

report('gateway-payload', rows, {
  trace: {
    seed: 42,
    durationMs: 60_000,
    messages: trace.length,
    connections: new Set(trace.map((e) => e.conn)).size,
    batchWindowMs: BATCH_WINDOW_MS,
    compressionThresholdBytes: codec.compressionThresholdBytes,
  },
});
console.table(
  rows
    .filter((r) => r.name.startsWith('payload.type.'))
    .map((r) => ({
      type: r.name.slice('payload.type.'.length),
      count: r['count'],
      concordBytesPerMessage: r['concordBytesPerMessage'],
      jsonBytesPerMessage: r['jsonBytesPerMessage'],
      savedPct: r.median,
    })),
);
