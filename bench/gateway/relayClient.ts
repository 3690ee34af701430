// Client worker of relay.bench.ts (forked, IPC). Hosts whole rooms of 10 members; the first
// `speakersPerRoom` members of an active room each send one media frame every 20 ms (13-byte
// header + an ~80-byte payload, the size of 32 kbps Opus), and every member records the frames
// it receives. The send time travels in the payload (first 8 bytes: float64 little-endian
// `performance.timeOrigin + performance.now()`), so latency needs no matching of sends to
// receipts; whole rooms per process also keep sender and receiver on one clock.
// Commands: {cmd:'connect', …} → {type:'connected'}; {cmd:'step', …} → {type:'stepDone', …};
// {cmd:'exit'}.
import WebSocket from 'ws';
import {
  encodeMediaFrame,
  FrameCodec,
  MEDIA_FRAME_HEADER,
  MEDIA_HEADER_BYTES,
  MediaFlags,
  Op,
  PROTOCOL_VERSION,
  type ServerMessage,
} from '@concord/protocol';
import { BIN_MS, BINS, SUB_WINDOWS, waitFor } from './fanoutShared.js';
import type { RelayStepResult } from './relayShared.js';

interface ConnectCommand {
  cmd: 'connect';
  url: string;
  rooms: string[];
  membersPerRoom: number;
  speakersPerRoom: number;
  userPrefix: string;
  addresses: string[];
  /** Opus payload bytes per frame (the send time takes the first 8). */
  payloadBytes: number;
  /** Plain `ws` relay baseline: no protocol, `?room=` in the URL, any ssrc. */
  raw: boolean;
}

interface StepCommand {
  cmd: 'step';
  /** Rooms (of this worker's) whose speakers send during the step. */
  activeRooms: string[];
  frameMs: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
}

interface Speaker {
  ws: WebSocket;
  room: string;
  /** The frame template: header with this stream's ssrc, payload pattern. */
  template: Uint8Array;
  seq: number;
  nextAtMs: number;
}

interface Member {
  ws: WebSocket;
  userId: string;
  inbox: ServerMessage[];
  wake: (() => void) | undefined;
}

const codec = new FrameCodec();
const sockets: WebSocket[] = [];
const speakers: Speaker[] = [];
/** Until set up, control messages go to the member's inbox; afterwards they are ignored. */
let settingUp = true;

// Measurement state: the window is in absolute ms (timeOrigin + now), the clock of the payload.
let windowStart = Infinity;
let windowEnd = -Infinity;
let histogram = new Array<number>(BINS + 1).fill(0);
const newSubHistograms = () =>
  Array.from({ length: SUB_WINDOWS }, () => new Array<number>(BINS + 1).fill(0));
let subHistograms = newSubHistograms();
let subSent = new Array<number>(SUB_WINDOWS).fill(0);
let subReceived = new Array<number>(SUB_WINDOWS).fill(0);
const subWindowOf = (t: number) =>
  Math.min(
    SUB_WINDOWS - 1,
    Math.floor(((t - windowStart) / (windowEnd - windowStart)) * SUB_WINDOWS),
  );
let received = 0;
let receivedInWindow = 0;
let sent = 0;
let nonMediaFrames = 0;
const nowAbs = (): number => performance.timeOrigin + performance.now();

function onMedia(data: Buffer): void {
  if (data.length < MEDIA_HEADER_BYTES + 8) return;
  const now = nowAbs();
  if (now >= windowStart && now < windowEnd) receivedInWindow++;
  const sentAt = data.readDoubleLE(MEDIA_HEADER_BYTES);
  if (sentAt < windowStart || sentAt >= windowEnd) return;
  received++;
  const bin = Math.floor((now - sentAt) / BIN_MS);
  const b = bin < BINS ? (bin < 0 ? 0 : bin) : BINS;
  histogram[b]!++;
  const w = subWindowOf(sentAt);
  subHistograms[w]![b]!++;
  subReceived[w]!++;
}

function decodeOrExit(data: Buffer): ServerMessage[] {
  try {
    return codec.decodeServerFrame(new Uint8Array(data));
  } catch (err) {
    process.send!({
      type: 'error',
      message: `undecodable gateway frame (is the build current? npx tsc -b): ${String(err)}`,
    });
    process.exit(1);
  }
}

/** Connects one member; resolves with its ssrc (Concord: from ROOM_JOINED; raw: `fallbackSsrc`). */
async function connectOne(
  cmd: ConnectCommand,
  userId: string,
  room: string,
  localAddress: string,
  fallbackSsrc: number,
): Promise<{ ws: WebSocket; ssrc: number }> {
  const ws = new WebSocket(cmd.raw ? `${cmd.url}?room=${room}` : cmd.url, {
    localAddress,
    perMessageDeflate: false,
  });
  const m: Member = { ws, userId, inbox: [], wake: undefined };
  ws.on('message', (data: Buffer) => {
    if (data[0] === MEDIA_FRAME_HEADER) onMedia(data);
    else if (!cmd.raw) {
      nonMediaFrames++;
      if (!settingUp) return;
      m.inbox.push(...decodeOrExit(data));
      m.wake?.();
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('close', (code) => process.send!({ type: 'error', message: `${userId} closed ${code}` }));
  sockets.push(ws);
  if (cmd.raw) return { ws, ssrc: fallbackSsrc };
  await waitFor(m, (msg) => msg.op === Op.Hello);
  ws.send(
    codec.encode({
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token: `dev:${userId}`,
        capabilities: { transports: ['ws'], codecs: ['opus'], client: 'bench-relay' },
      },
    }),
  );
  await waitFor(m, (msg) => msg.op === Op.Ready);
  ws.send(codec.encode({ op: Op.JoinRoom, d: { req: 1, room } }));
  const joined = await waitFor(m, (msg) => msg.op === Op.Dispatch && msg.t === 'ROOM_JOINED');
  if (joined.op !== Op.Dispatch || joined.t !== 'ROOM_JOINED') throw new Error('unreachable');
  const self = joined.d.participants.find((p) => p.userId === userId);
  if (!self) throw new Error(`${userId}: not in its own ROOM_JOINED participant list`);
  m.inbox = [];
  return { ws, ssrc: self.ssrc };
}

async function connect(cmd: ConnectCommand): Promise<void> {
  let n = 0;
  const payload = new Uint8Array(cmd.payloadBytes).map((_, i) => (i * 37 + 11) & 0xff);
  // Rooms one after another, members of a room in parallel.
  for (const room of cmd.rooms) {
    const members = await Promise.all(
      Array.from({ length: cmd.membersPerRoom }, (_, i) => {
        const at = n++;
        return connectOne(
          cmd,
          `${cmd.userPrefix}-${room}-${i}`,
          room,
          cmd.addresses[at % cmd.addresses.length]!,
          at + 1,
        );
      }),
    );
    for (const { ws, ssrc } of members.slice(0, cmd.speakersPerRoom)) {
      // Speech with FEC at −20 dBov: the relay's speaker selection forwards all three.
      const flags = MediaFlags.Speech | MediaFlags.Fec;
      const template = encodeMediaFrame({ ssrc, seq: 0, timestamp: 0, flags, level: 20 }, payload);
      speakers.push({ ws, room, template, seq: 0, nextAtMs: 0 });
    }
  }
  // Let the PARTICIPANT_JOINED storm pass.
  await new Promise((r) => setTimeout(r, 300));
  settingUp = false;
  process.send!({ type: 'connected', clients: sockets.length });
}

function sendFrame(s: Speaker, frameMs: number): void {
  // A fresh buffer per frame: ws may keep a reference until the bytes are written.
  const frame = Buffer.from(s.template);
  const seq = s.seq++ & 0xffff;
  frame.writeUInt16BE(seq, 5);
  frame.writeUInt32BE((s.seq * frameMs * 48) >>> 0, 7);
  const now = nowAbs();
  frame.writeDoubleLE(now, MEDIA_HEADER_BYTES);
  if (now >= windowStart && now < windowEnd) {
    sent++;
    subSent[subWindowOf(now)]!++;
  }
  s.ws.send(frame, { binary: true });
}

async function step(cmd: StepCommand): Promise<void> {
  const active = new Set(cmd.activeRooms);
  const senders = speakers.filter((s) => active.has(s.room));
  const start = performance.now();
  // Random phases: 3 speakers × N rooms do not send in lockstep (real clients do not either).
  for (const s of senders) s.nextAtMs = start + Math.random() * cmd.frameMs;
  histogram = new Array<number>(BINS + 1).fill(0);
  subHistograms = newSubHistograms();
  subSent = new Array<number>(SUB_WINDOWS).fill(0);
  subReceived = new Array<number>(SUB_WINDOWS).fill(0);
  received = 0;
  receivedInWindow = 0;
  sent = 0;
  windowStart = performance.timeOrigin + start + cmd.warmupMs;
  windowEnd = windowStart + cmd.measureMs;
  const endRel = start + cmd.warmupMs + cmd.measureMs;
  let cpu0: NodeJS.CpuUsage | undefined;
  let maxTickLagMs = 0;
  let lastTick = start;
  // Drift-free 20 ms clock per speaker (discord.js voice style); a 1 ms tick sends what is due.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= start + cmd.warmupMs) {
        cpu0 ??= process.cpuUsage();
        maxTickLagMs = Math.max(maxTickLagMs, now - lastTick);
      }
      lastTick = now;
      if (now >= endRel) {
        clearInterval(timer);
        resolve();
        return;
      }
      for (const s of senders) {
        // Bounded catch-up: after a long stall send at most 3 overdue frames, skip the rest.
        if (now - s.nextAtMs > 3 * cmd.frameMs) s.nextAtMs = now - 3 * cmd.frameMs;
        while (s.nextAtMs <= now) {
          sendFrame(s, cmd.frameMs);
          s.nextAtMs += cmd.frameMs;
        }
      }
    }, 1);
  });
  const cpu = process.cpuUsage(cpu0);
  const inWindow = receivedInWindow;
  await new Promise((r) => setTimeout(r, cmd.drainMs));
  const result: RelayStepResult = {
    type: 'stepDone',
    histogram,
    subHistograms,
    subSent,
    subReceived,
    sent,
    received,
    framesInWindow: inWindow,
    speakers: senders.length,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxTickLagMs,
    nonMediaFrames,
  };
  windowStart = Infinity;
  windowEnd = -Infinity;
  process.send!(result);
}

process.on('message', (m: { cmd: string }) => {
  const fail = (err: unknown) => process.send!({ type: 'error', message: String(err) });
  if (m.cmd === 'connect') connect(m as ConnectCommand).catch(fail);
  else if (m.cmd === 'step') step(m as StepCommand).catch(fail);
  else if (m.cmd === 'exit') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
