// SFU forwarding (issue 11, "Benchmarks"): forwarded audio packets per second per mediasoup
// worker core and worker CPU per forwarded stream, in rooms of 10 members of which 3 speak
// (20 ms Opus packets of 80 bytes, like 32 kbps: 3 × 50 × 9 = 1,350 forwards/s per room), with
// the number of rooms rising step by step — against the WebSocket relay measured the same way
// in the same run (bench/gateway/relay.bench.ts, run first by this suite with the same room
// steps; its rows are in bench/results/gateway-relay.json).
//
// The SFU side is the gateway's own setup — one mediasoup worker (the build `npm run mediasoup`
// makes), a router per room with the gateway's codec list (`SFU_MEDIA_CODECS`), one send
// transport per speaker and one receive transport per member consuming the room's speakers —
// with PlainTransports to Node UDP sockets standing in for browsers, so the load generator
// costs no browser and the worker does what it does for WebRTC members minus SRTP/ICE (SRTP
// adds AES per packet: the rows are a lower bound on the worker's cost per packet). Worker CPU
// from /proc/<pid>/stat over a 3 s window; forwards counted at the receiving socket.
// Run: npm run bench gateway/sfu   (needs the mediasoup worker: npm run mediasoup)
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMediasoup } from '../../packages/gateway/src/sfu/mediasoupLoader.js';
import { SFU_MEDIA_CODECS } from '../../packages/gateway/src/sfu/SfuRoom.js';
import { report, round, type BenchRow } from '../lib/harness.js';
import { cpuMs, cpuPressurePct, ROOT, sleep } from './proc.js';

// The slice of mediasoup's API this bench drives (PlainTransports, which the gateway's own
// typed subset leaves out).
interface PlainTransport {
  readonly tuple: { localPort: number };
  connect(o: { ip: string; port: number }): Promise<void>;
  produce(o: { kind: 'audio'; rtpParameters: unknown }): Promise<{ id: string }>;
  consume(o: { producerId: string; rtpCapabilities: unknown }): Promise<unknown>;
}
interface Router {
  readonly rtpCapabilities: unknown;
  createPlainTransport(o: {
    listenIp: string;
    rtcpMux: boolean;
    comedia: boolean;
  }): Promise<PlainTransport>;
}
interface Worker {
  readonly pid: number;
  createRouter(o: { mediaCodecs: unknown }): Promise<Router>;
  close(): void;
}
interface Api {
  createWorker(o: { logLevel: string; rtcMinPort: number; rtcMaxPort: number }): Promise<Worker>;
}

const ROOM_SIZE = 10;
const SPEAKERS_PER_ROOM = 3;
const FRAME_MS = 20;
const PAYLOAD_BYTES = 80;
const FORWARDS_PER_ROOM = SPEAKERS_PER_ROOM * (1000 / FRAME_MS) * (ROOM_SIZE - 1);
const ROOM_STEPS = [5, 10, 20, 40].filter((r) => r <= Number(process.env['SFU_MAX_ROOMS'] ?? 40));
const WARMUP_MS = 500;
const MEASURE_MS = 3_000;
const OPUS_PT = 100;

interface Room {
  // `packet`: each sender's own buffer (dgram sends asynchronously, so one shared buffer would
  // go out with the last header written), reused every 20 ms.
  senders: {
    socket: dgram.Socket;
    port: number;
    ssrc: number;
    seq: number;
    ts: number;
    packet: Buffer;
  }[];
}

async function main(): Promise<void> {
  // 1. The WebSocket relay, same room steps, same run.
  const relayRun = spawnSync(process.execPath, ['scripts/bench.mjs', 'gateway/relay'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, RELAY_MAX_ROOMS: String(ROOM_STEPS.at(-1)) },
  });
  const relay = new Map<number, BenchRow>();
  if (relayRun.status === 0) {
    const doc = JSON.parse(
      readFileSync(join(ROOT, 'bench', 'results', 'gateway-relay.json'), 'utf8'),
    ) as { rows: BenchRow[] };
    for (const r of doc.rows)
      if (r.name.startsWith('relay.concord.')) relay.set(r['rooms'] as number, r);
  } else console.error('sfu: the relay baseline failed; SFU rows only');

  // 2. The SFU.
  const ms = loadMediasoup().api as unknown as Api;
  const worker = await ms.createWorker({
    logLevel: 'warn',
    rtcMinPort: 42_000,
    rtcMaxPort: 44_999,
  });
  const sink = dgram.createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  // Room for bursts: forwards the kernel drops here would count against the SFU.
  sink.setRecvBufferSize(8 * 1024 * 1024);
  const sinkPort = sink.address().port;
  let received = 0;
  sink.on('message', () => received++);
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x55);
  payload[0] = 0xf8; // Opus TOC: CELT fullband 20 ms, one frame (RFC 6716 §3.1)

  const rooms: Room[] = [];
  const maxRooms = ROOM_STEPS.at(-1)!;
  let ssrc = 1_000;
  for (let r = 0; r < maxRooms; r++) {
    const router = await worker.createRouter({ mediaCodecs: SFU_MEDIA_CODECS });
    const room: Room = { senders: [] };
    const producerIds: string[] = [];
    for (let s = 0; s < SPEAKERS_PER_ROOM; s++) {
      const t = await router.createPlainTransport({
        listenIp: '127.0.0.1',
        rtcpMux: true,
        comedia: true,
      });
      const producer = await t.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            { mimeType: 'audio/opus', payloadType: OPUS_PT, clockRate: 48_000, channels: 2 },
          ],
          encodings: [{ ssrc: ++ssrc }],
        },
      });
      producerIds.push(producer.id);
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((res) => socket.bind(0, '127.0.0.1', res));
      const packet = Buffer.alloc(12 + PAYLOAD_BYTES);
      packet.set(payload, 12);
      room.senders.push({ socket, port: t.tuple.localPort, ssrc, seq: 0, ts: 0, packet });
    }
    for (let m = 0; m < ROOM_SIZE; m++) {
      const t = await router.createPlainTransport({
        listenIp: '127.0.0.1',
        rtcpMux: true,
        comedia: false,
      });
      await t.connect({ ip: '127.0.0.1', port: sinkPort });
      // Speakers are members 0–2: each consumes the other speakers, listeners all three.
      for (let s = 0; s < SPEAKERS_PER_ROOM; s++) {
        if (s === m) continue;
        await t.consume({ producerId: producerIds[s]!, rtpCapabilities: router.rtpCapabilities });
      }
    }
    rooms.push(room);
  }

  let active = 0;
  let sent = 0;
  const timer = setInterval(() => {
    for (let r = 0; r < active; r++) {
      for (const s of rooms[r]!.senders) {
        const packet = s.packet;
        packet[0] = 0x80;
        packet[1] = OPUS_PT;
        packet.writeUInt16BE(s.seq, 2);
        packet.writeUInt32BE(s.ts >>> 0, 4);
        packet.writeUInt32BE(s.ssrc, 8);
        s.seq = (s.seq + 1) & 0xffff;
        s.ts += 960;
        s.socket.send(packet, s.port, '127.0.0.1');
        sent++;
      }
    }
  }, FRAME_MS);

  const rows: BenchRow[] = [];
  for (const n of ROOM_STEPS) {
    active = n;
    await sleep(WARMUP_MS);
    const cpu0 = cpuMs(worker.pid);
    const got0 = received;
    const sent0 = sent;
    await sleep(MEASURE_MS);
    const workerCpuMs = cpuMs(worker.pid) - cpu0;
    const forwards = received - got0;
    const packetsSent = sent - sent0;
    const seconds = MEASURE_MS / 1000;
    const forwardsPerSec = forwards / seconds;
    const cpuFraction = workerCpuMs / MEASURE_MS;
    const streams = n * SPEAKERS_PER_ROOM * (ROOM_SIZE - 1);
    const cpuUsPerForward = forwards > 0 ? (workerCpuMs * 1000) / forwards : Number.NaN;
    const base = relay.get(n);
    const relayUs = base?.['serverCpuUsPerForward'] as number | undefined;
    const row: BenchRow = {
      name: `sfu.mediasoup.${n}rooms`,
      median: round(cpuUsPerForward, 2),
      unit: 'us/forward',
      rooms: n,
      offeredForwardsPerSec: n * FORWARDS_PER_ROOM,
      forwardsPerSec: Math.round(forwardsPerSec),
      // Lost between the generator and the sink: the worker, or the sink process itself when
      // the machine is saturated (cpuPressurePct); µs/forward counts received forwards only.
      lostPct: round(100 * (1 - forwards / (packetsSent * (ROOM_SIZE - 1))), 2),
      workerCpuPct: round(cpuFraction * 100, 1),
      forwardsPerSecPerWorkerCore:
        cpuFraction > 0 ? Math.round(forwardsPerSec / cpuFraction) : null,
      workerCpuPctPerStream: round((cpuFraction * 100) / streams, 4),
      ...(relayUs !== undefined && {
        relayCpuUsPerForward: relayUs,
        relayCpuPct: base?.['serverCpuPct'],
        relayForwardsPerSec: base?.['forwardsPerSec'],
        sfuToRelayCpuRatio: round(cpuUsPerForward / relayUs, 2),
      }),
      cpuPressurePct: cpuPressurePct(),
    };
    console.log(
      `sfu ${n} rooms: ${row['forwardsPerSec']} forwards/s, worker CPU ${row['workerCpuPct']} %, ` +
        `${row.median} µs/forward` +
        (relayUs !== undefined ? ` (WebSocket relay ${relayUs} µs/forward)` : ''),
    );
    rows.push(row);
  }
  clearInterval(timer);
  worker.close();
  sink.close();
  for (const r of rooms) for (const s of r.senders) s.socket.close();
  report('gateway-sfu', rows, {
    roomSize: ROOM_SIZE,
    speakersPerRoom: SPEAKERS_PER_ROOM,
    frameMs: FRAME_MS,
    payloadBytes: PAYLOAD_BYTES,
    note: 'PlainTransports (no SRTP/ICE) stand in for browsers; relay rows from gateway-relay.json of the same run',
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
