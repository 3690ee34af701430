// Client worker of fanout.bench.ts (forked, IPC). Hosts whole rooms of 10, so a sender's send
// time and its receivers' receipt times come from one process clock (`performance.now()`).
// Every member sends SPEAKING toggles (every `voiceEvery`-th update an UPDATE_VOICE_STATE
// instead) at a given rate; each receipt at the other 9 members is matched to its send by
// (sender, kind, count): per sender the gateway delivers in order, so the k-th SPEAKING a
// receiver sees from a user is that user's k-th toggle. SPEAKING / VOICE_STATE_UPDATE name the
// sender by its ssrc: each client maps it to the userId from the participant lists it received
// (ROOM_JOINED, PARTICIPANT_JOINED).
// Commands: {cmd:'connect', …} → {type:'connected'}; {cmd:'step', …} → {type:'stepDone', …};
// {cmd:'exit'}.
import WebSocket from 'ws';
import { FrameCodec, Op, PROTOCOL_VERSION, type ServerMessage } from '@concord/protocol';
import { BIN_MS, BINS, SUB_WINDOWS, waitFor, type StepResult } from './fanoutShared.js';

interface ConnectCommand {
  cmd: 'connect';
  url: string;
  rooms: string[];
  membersPerRoom: number;
  userPrefix: string;
  addresses: string[];
  /** Plain `ws` relay baseline: no protocol; 5-byte messages [kind, u32 sender index]. */
  raw: boolean;
}

interface StepCommand {
  cmd: 'step';
  /** Updates per second per client. */
  ratePerClient: number;
  /** Every n-th update is UPDATE_VOICE_STATE (0 = SPEAKING only). */
  voiceEvery: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
}

interface Client {
  ws: WebSocket;
  /** Index in `clients` (raw mode identifies senders by it). */
  index: number;
  userId: string;
  room: string;
  /** Send times of this user's SPEAKING toggles and voice-state updates, by count. */
  speakingSentAt: number[];
  voiceSentAt: number[];
  /** The room's members by ssrc, from the participant lists this client received. */
  usersBySsrc: Map<number, string>;
  /** Per sender userId: how many of its SPEAKING / VOICE_STATE_UPDATE this client has seen. */
  seenSpeaking: Map<string, number>;
  seenVoice: Map<string, number>;
  updates: number;
  req: number;
  muted: boolean;
  nextAtMs: number;
  inbox: ServerMessage[];
  wake: (() => void) | undefined;
}

const codec = new FrameCodec();
const clients: Client[] = [];
const byUser = new Map<string, Client>();
// Measurement state.
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
let framesIn = 0;
let sent = 0;
/** Until set up, every other server message goes to the client's inbox. */
let settingUp = true;

function record(sentAt: number | undefined, now: number): void {
  if (sentAt === undefined || sentAt < windowStart || sentAt >= windowEnd) return;
  received++;
  const bin = Math.floor((now - sentAt) / BIN_MS);
  const b = bin < BINS ? bin : BINS;
  histogram[b]!++;
  const w = subWindowOf(sentAt);
  subHistograms[w]![b]!++;
  subReceived[w]!++;
}

function onRawFrame(data: Buffer): void {
  const now = performance.now();
  if (now >= windowStart && now < windowEnd) framesIn++;
  // Per sender, the relay delivers in order: count per (receiver, sender, kind) as below.
  const sender = clients[data.readUInt32LE(1)];
  if (!sender) return;
  record(
    (data[0] === 0 ? sender.speakingSentAt : sender.voiceSentAt)[seenRaw(sender, data[0]!)],
    now,
  );
}

// Raw mode: receipts per (receiver, sender, kind); the receiver is implicit per socket.
const rawSeen = new Map<WebSocket, Map<number, number>>();
let rawReceiver: WebSocket | undefined;
function seenRaw(sender: Client, kind: number): number {
  let m = rawSeen.get(rawReceiver!);
  if (!m) rawSeen.set(rawReceiver!, (m = new Map()));
  const key = sender.index * 2 + kind;
  const k = m.get(key) ?? 0;
  m.set(key, k + 1);
  return k;
}

function decodeOrExit(data: Buffer): ServerMessage[] {
  try {
    return codec.decodeServerFrame(new Uint8Array(data));
  } catch (err) {
    // The gateway and this client disagree on the protocol: stop the suite with the reason.
    process.send!({
      type: 'error',
      message: `undecodable gateway frame (is the build current? npx tsc -b): ${String(err)}`,
    });
    process.exit(1);
  }
}

function onFrame(c: Client, data: Buffer): void {
  const now = performance.now();
  if (now >= windowStart && now < windowEnd) framesIn++;
  for (const m of decodeOrExit(data)) {
    if (m.op === Op.Dispatch && m.t === 'SPEAKING') {
      // An ssrc no participant list announced cannot be matched: it counts as lost.
      const sender = c.usersBySsrc.get(m.d.ssrc);
      if (sender === undefined) continue;
      const k = c.seenSpeaking.get(sender) ?? 0;
      c.seenSpeaking.set(sender, k + 1);
      record(byUser.get(sender)?.speakingSentAt[k], now);
    } else if (m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE') {
      const sender = c.usersBySsrc.get(m.d.ssrc);
      // The requester's own echo is not a fan-out.
      if (sender === undefined || sender === c.userId) continue;
      const k = c.seenVoice.get(sender) ?? 0;
      c.seenVoice.set(sender, k + 1);
      record(byUser.get(sender)?.voiceSentAt[k], now);
    } else {
      if (m.op === Op.Dispatch && m.t === 'ROOM_JOINED')
        for (const p of m.d.participants) c.usersBySsrc.set(p.ssrc, p.userId);
      else if (m.op === Op.Dispatch && m.t === 'PARTICIPANT_JOINED')
        c.usersBySsrc.set(m.d.participant.ssrc, m.d.participant.userId);
      if (settingUp) {
        c.inbox.push(m);
        c.wake?.();
      }
    }
  }
}

async function connectOne(
  url: string,
  userId: string,
  room: string,
  localAddress: string,
  raw: boolean,
) {
  const ws = new WebSocket(raw ? `${url}?room=${room}` : url, {
    localAddress,
    perMessageDeflate: false,
  });
  const c: Client = {
    ws,
    index: -1,
    userId,
    room,
    speakingSentAt: [],
    voiceSentAt: [],
    usersBySsrc: new Map(),
    seenSpeaking: new Map(),
    seenVoice: new Map(),
    updates: 0,
    req: 0,
    muted: false,
    nextAtMs: 0,
    inbox: [],
    wake: undefined,
  };
  if (raw) {
    ws.on('message', (data: Buffer) => {
      rawReceiver = ws;
      onRawFrame(data);
    });
  } else ws.on('message', (data: Buffer) => onFrame(c, data));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('close', (code) => process.send!({ type: 'error', message: `${userId} closed ${code}` }));
  if (raw) {
    c.index = clients.push(c) - 1;
    return;
  }
  await waitFor(c, (m) => m.op === Op.Hello);
  ws.send(
    codec.encode({
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token: `dev:${userId}`,
        capabilities: { transports: ['ws'], codecs: ['opus'], client: 'bench-fanout' },
      },
    }),
  );
  await waitFor(c, (m) => m.op === Op.Ready);
  ws.send(codec.encode({ op: Op.JoinRoom, d: { req: ++c.req, room } }));
  await waitFor(c, (m) => m.op === Op.Dispatch && m.t === 'ROOM_JOINED');
  c.inbox = [];
  c.index = clients.push(c) - 1;
  byUser.set(userId, c);
}

async function connect(cmd: ConnectCommand): Promise<void> {
  let n = 0;
  // Rooms one after another, members of a room in parallel.
  for (const room of cmd.rooms) {
    await Promise.all(
      Array.from({ length: cmd.membersPerRoom }, (_, i) =>
        connectOne(
          cmd.url,
          `${cmd.userPrefix}-${room}-${i}`,
          room,
          cmd.addresses[n++ % cmd.addresses.length]!,
          cmd.raw,
        ),
      ),
    );
  }
  // Let the PARTICIPANT_JOINED storm pass.
  await new Promise((r) => setTimeout(r, 300));
  settingUp = false;
  for (const c of clients) c.inbox = [];
  process.send!({ type: 'connected', clients: clients.length });
}

const speakingFrames = new Map<string, [Uint8Array, Uint8Array]>();
let rawMode = false;

function sendUpdate(c: Client, voiceEvery: number): void {
  const n = ++c.updates;
  const now = performance.now();
  if (now >= windowStart && now < windowEnd) {
    sent++;
    subSent[subWindowOf(now)]!++;
  }
  if (rawMode) {
    const voice = voiceEvery > 0 && n % voiceEvery === 0;
    (voice ? c.voiceSentAt : c.speakingSentAt).push(now);
    const msg = Buffer.allocUnsafe(5);
    msg[0] = voice ? 1 : 0;
    msg.writeUInt32LE(c.index, 1);
    c.ws.send(msg, { binary: true });
    return;
  }
  if (voiceEvery > 0 && n % voiceEvery === 0) {
    c.muted = !c.muted;
    c.voiceSentAt.push(now);
    c.ws.send(
      codec.encode({
        op: Op.UpdateVoiceState,
        d: { req: ++c.req, room: c.room, muted: c.muted, deafened: false },
      }),
    );
    return;
  }
  let frames = speakingFrames.get(c.room);
  if (!frames) {
    const f = (speaking: boolean) =>
      codec.encode({ op: Op.Speaking, d: { room: c.room, speaking } });
    speakingFrames.set(c.room, (frames = [f(false), f(true)]));
  }
  const speaking = c.speakingSentAt.length % 2 === 0;
  c.speakingSentAt.push(now);
  c.ws.send(frames[speaking ? 1 : 0]);
}

async function step(cmd: StepCommand): Promise<void> {
  const periodMs = 1000 / cmd.ratePerClient;
  const start = performance.now();
  for (const c of clients) c.nextAtMs = start + Math.random() * periodMs;
  histogram = new Array<number>(BINS + 1).fill(0);
  subHistograms = newSubHistograms();
  subSent = new Array<number>(SUB_WINDOWS).fill(0);
  subReceived = new Array<number>(SUB_WINDOWS).fill(0);
  received = 0;
  framesIn = 0;
  windowStart = start + cmd.warmupMs;
  windowEnd = windowStart + cmd.measureMs;
  sent = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  let maxTickLagMs = 0;
  let lastTick = start;
  // Drift-free send clock: each client has its own next send time; a 1 ms tick sends what is due.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= windowStart && now < windowEnd) {
        cpu0 ??= process.cpuUsage();
        maxTickLagMs = Math.max(maxTickLagMs, now - lastTick);
      }
      lastTick = now;
      if (now >= windowEnd) {
        clearInterval(timer);
        resolve();
        return;
      }
      for (const c of clients) {
        while (c.nextAtMs <= now) {
          sendUpdate(c, cmd.voiceEvery);
          c.nextAtMs += periodMs;
        }
      }
    }, 1);
  });
  const cpu = process.cpuUsage(cpu0);
  const windowFrames = framesIn;
  await new Promise((r) => setTimeout(r, cmd.drainMs));
  const members = clients.length / new Set(clients.map((c) => c.room)).size;
  const result: StepResult = {
    type: 'stepDone',
    histogram,
    subHistograms,
    subSent,
    subReceived,
    expected: sent * (members - 1),
    received,
    sent,
    measureMs: cmd.measureMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    framesIn: windowFrames,
    maxTickLagMs,
  };
  windowStart = Infinity;
  windowEnd = -Infinity;
  process.send!(result);
}

process.on('message', (m: { cmd: string }) => {
  const fail = (err: unknown) => process.send!({ type: 'error', message: String(err) });
  if (m.cmd === 'connect') {
    rawMode = (m as ConnectCommand).raw;
    connect(m as ConnectCommand).catch(fail);
  } else if (m.cmd === 'step') step(m as StepCommand).catch(fail);
  else if (m.cmd === 'exit') {
    for (const c of clients) c.ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
