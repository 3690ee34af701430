// Client worker of abuse.bench.ts (forked, IPC). Plays one role with `count` sockets until told
// to stop, then reports. Roles:
//   honest    identified, heartbeats every second, records each HEARTBEAT_ACK round trip
//   reader    identified, in `room`, reads everything; checks seqs and counts VOICE_STATE_UPDATE
//   toggler   identified, in `room`, toggles its mute just within the control rate limit
//   slow      identified, in `room`, stops reading; heartbeats with the seq it processed last
//             (as a stuck page would); when cut, resumes and goes on not reading
//   preauth   the worst a stranger may send: connects (own source address), sends an IDENTIFY
//             with the longest token allowed (a junk JWT of ~4 KiB, which the gateway must
//             parse before refusing it), and reconnects as soon as it is closed
//   postauth  identified, in a room of attackers, sends the largest frames at the highest
//             rates its budgets allow (64-entry RECEIVER_REPORTs, SPEAKING toggles, join/leave
//             churn); when closed (a limit hit), identifies again
import WebSocket from 'ws';
import {
  FrameCodec,
  FrameType,
  frameTypeOf,
  Op,
  PROTOCOL_VERSION,
  type ClientMessage,
  type ServerMessage,
} from '../../packages/protocol/src/index.js';

type Role = 'honest' | 'reader' | 'toggler' | 'slow' | 'preauth' | 'postauth';
interface StartCommand {
  cmd: 'start';
  role: Role;
  url: string;
  count: number;
  /** Socket i joins rooms[i % rooms.length]. */
  rooms: string[];
  userPrefix: string;
  /** Source address of socket i: addresses[i % addresses.length]. */
  addresses: string[];
}

const codec = new FrameCodec({ compressionThresholdBytes: 0 });
const decoder = new FrameCodec();
let stopping = false;
const timers: ReturnType<typeof setInterval>[] = [];
const sockets = new Set<WebSocket>();

const stats = {
  rttsMs: [] as number[],
  /** Mute toggles sent, per room. */
  toggles: {} as Record<string, number>,
  /** VOICE_STATE_UPDATE events received, per room. */
  voiceUpdates: {} as Record<string, number>,
  seqGaps: 0,
  cuts: 0,
  closes: {} as Record<string, number>,
  connects: 0,
  framesSent: 0,
  bytesSent: 0,
};

function send(ws: WebSocket, m: ClientMessage | ClientMessage[]): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  const frame = codec.encode(m);
  stats.framesSent++;
  stats.bytesSent += frame.length;
  ws.send(frame);
}

const identify = (token: string): ClientMessage => ({
  op: Op.Identify,
  d: {
    protocolVersion: PROTOCOL_VERSION,
    token,
    capabilities: { transports: ['ws'], codecs: ['opus'], client: 'bench-abuse' },
  },
});

interface Session {
  ws: WebSocket;
  sessionId: string;
  secret: string;
  seq: number;
  ssrc: number;
}

/**
 * Opens a socket and identifies (or resumes `resume`); calls `onReady` at READY/RESUMED and
 * `onMessage` for each later message; resolves when the socket closes (with its code).
 */
function session(
  url: string,
  user: string,
  localAddress: string,
  room: string,
  on: {
    ready?: (s: Session) => void;
    message?: (s: Session, m: ServerMessage) => void;
    read?: boolean;
  },
  resume?: Session,
): Promise<{ code: number; s: Session | undefined }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    sockets.add(ws);
    stats.connects++;
    let s: Session | undefined;
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      sockets.delete(ws);
      stats.closes[code] = (stats.closes[code] ?? 0) + 1;
      resolve({ code, s });
    });
    ws.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data);
      if (frameTypeOf(bytes) === FrameType.Media) return;
      for (const m of decoder.decodeServerFrame(bytes)) {
        if (m.op === Op.Hello) {
          if (resume)
            send(ws, {
              op: Op.Resume,
              d: {
                protocolVersion: PROTOCOL_VERSION,
                sessionId: resume.sessionId,
                token: `dev:${user}`,
                seq: resume.seq,
                resumeSecret: resume.secret,
              },
            });
          else send(ws, identify(`dev:${user}`));
        } else if (m.op === Op.Ready || m.op === Op.Resumed) {
          s = resume
            ? { ...resume, ws }
            : m.op === Op.Ready
              ? { ws, sessionId: m.d.sessionId, secret: m.d.resumeSecret, seq: 0, ssrc: 0 }
              : undefined;
          if (m.op === Op.Ready) send(ws, { op: Op.JoinRoom, d: { req: 1, room } });
          else if (s) on.ready?.(s);
        } else if (m.op === Op.InvalidSession) {
          ws.terminate();
        } else if (m.op === Op.Dispatch && s) {
          if (m.seq !== s.seq + 1) stats.seqGaps++;
          s.seq = m.seq;
          if (m.t === 'ROOM_JOINED' && m.d.room === room && m.d.req === 1 && s.ssrc === 0) {
            s.ssrc = m.d.participants.find((p) => p.userId === user)?.ssrc ?? 0;
            on.ready?.(s);
          }
          on.message?.(s, m);
        } else if (s) on.message?.(s, m);
      }
    });
  });
}

function every(ms: number, fn: () => void): void {
  // Spread the sockets' timers over the period.
  const t = setTimeout(
    () => {
      fn();
      timers.push(setInterval(fn, ms));
    },
    Math.floor(Math.random() * ms),
  );
  timers.push(t as unknown as ReturnType<typeof setInterval>);
}

const bump = (t: Record<string, number>, key: string): void => {
  t[key] = (t[key] ?? 0) + 1;
};

async function run(c: StartCommand, i: number): Promise<void> {
  const user = `${c.userPrefix}-${i}`;
  const address = c.addresses[i % c.addresses.length]!;
  const room = c.rooms[i % c.rooms.length]!;
  switch (c.role) {
    case 'honest': {
      const pending = new Map<number, number>();
      let nonce = 0;
      await session(c.url, user, address, room, {
        ready: (s) =>
          every(1_000, () => {
            pending.set(++nonce, performance.now());
            send(s.ws, { op: Op.Heartbeat, d: { nonce, seq: s.seq } });
          }),
        message: (_s, m) => {
          if (m.op !== Op.HeartbeatAck) return;
          const at = pending.get(m.d.nonce);
          if (at !== undefined) stats.rttsMs.push(performance.now() - at);
          pending.delete(m.d.nonce);
        },
      });
      return;
    }
    case 'reader':
      await session(c.url, user, address, room, {
        ready: (s) =>
          every(5_000, () => send(s.ws, { op: Op.Heartbeat, d: { nonce: 1, seq: s.seq } })),
        message: (_s, m) => {
          if (m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE') bump(stats.voiceUpdates, room);
        },
      });
      return;
    case 'toggler': {
      let muted = false;
      await session(c.url, user, address, room, {
        ready: (s) => {
          // 120 messages per minute allowed: mute toggles at 1.6/s plus a heartbeat every 5 s.
          every(625, () => {
            muted = !muted;
            bump(stats.toggles, room);
            send(s.ws, {
              op: Op.UpdateVoiceState,
              d: { req: 2, room: room, muted, deafened: false },
            });
          });
          every(5_000, () => send(s.ws, { op: Op.Heartbeat, d: { nonce: 1, seq: s.seq } }));
        },
      });
      return;
    }
    case 'slow': {
      let resume: Session | undefined;
      while (!stopping) {
        const heartbeat = (s: Session) => {
          (s.ws as unknown as { _socket: { pause(): void } })._socket.pause();
          const acked = s.seq;
          every(5_000, () => send(s.ws, { op: Op.Heartbeat, d: { nonce: 1, seq: acked } }));
        };
        const r = await session(c.url, user, address, room, { ready: heartbeat }, resume);
        if (stopping) return;
        stats.cuts++;
        resume = r.s;
        await new Promise((res) => setTimeout(res, 200));
      }
      return;
    }
    case 'preauth': {
      // A junk JWT just under the 4,096-byte string limit: three base64url parts, a valid
      // header and a payload that decodes to garbage, so it gets as far as JWT parsing.
      const junk = `eyJhbGciOiJIUzI1NiJ9.${'A'.repeat(4_000)}.c2ln`;
      while (!stopping) {
        await new Promise<void>((resolve) => {
          const ws = new WebSocket(c.url, { localAddress: address, perMessageDeflate: false });
          sockets.add(ws);
          stats.connects++;
          ws.on('error', () => undefined);
          ws.on('close', (code) => {
            sockets.delete(ws);
            stats.closes[code] = (stats.closes[code] ?? 0) + 1;
            resolve();
          });
          ws.on('message', () => send(ws, identify(junk)));
        });
        // Refused before the handshake (429) closes at once: do not spin.
        await new Promise((res) => setTimeout(res, 5));
      }
      return;
    }
    case 'postauth': {
      let round = 0;
      while (!stopping) {
        round++;
        await session(c.url, `${user}-r${round}`, address, room, {
          ready: (s) => {
            const second = 'a'.repeat(100) + room;
            send(s.ws, { op: Op.JoinRoom, d: { req: 9, room: second } });
            // Reports: 64 entries naming this room's streams, at the report limit (2/s).
            every(500, () =>
              send(s.ws, {
                op: Op.ReceiverReport,
                d: {
                  room: room,
                  reports: Array.from({ length: 64 }, (_, k) => ({
                    ssrc: s.ssrc + k,
                    fractionLost: 255,
                    jitterMs: 1_000_000,
                    lostTotal: 1_000_000,
                  })),
                },
              }),
            );
            // SPEAKING at its limit (600/min = 10/s).
            let speaking = false;
            every(100, () => {
              speaking = !speaking;
              send(s.ws, { op: Op.Speaking, d: { room: room, speaking } });
            });
            // Join/leave churn of a second room within the control limit (1.5/s).
            let inside = true;
            every(700, () => {
              send(s.ws, {
                op: inside ? Op.LeaveRoom : Op.JoinRoom,
                d: { req: 10, room: second },
              });
              inside = !inside;
            });
            every(5_000, () => send(s.ws, { op: Op.Heartbeat, d: { nonce: 1, seq: s.seq } }));
          },
        });
        await new Promise((res) => setTimeout(res, 50));
      }
      return;
    }
  }
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'start') {
    const c = m as StartCommand;
    for (let i = 0; i < c.count; i++)
      run(c, i).catch((err: unknown) => process.send!({ type: 'error', message: String(err) }));
    process.send!({ type: 'running' });
  } else if (m.cmd === 'stop') {
    stopping = true;
    for (const t of timers) clearInterval(t);
    process.send!({ type: 'stats', ...stats });
    for (const ws of sockets) ws.terminate();
  } else if (m.cmd === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
