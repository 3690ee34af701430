// A deterministic "recorded" event trace of one busy voice room, for the payload benchmark.
//
// One room of ~100 members observed for 60 s: a session identifies and joins (100-participant
// ROOM_JOINED), members leave and new ones identify and join, voice states change (with their
// REQUEST_ACK), talk spurts toggle SPEAKING, every connection heartbeats (SPEAKING and
// VOICE_STATE_UPDATE name the member by its ssrc). Every message is listed
// per connection and direction with its time, exactly as the gateway would produce it (fan-out
// to every member, per-session seq), so the consumer can batch it like FrameBatcher does.
import { rng } from '../../packages/testing/src/signals.js';
import {
  EventSchemas,
  Op,
  PROTOCOL_VERSION,
  type DispatchEvents,
  type EventName,
  type Message,
  type Participant,
} from '../../packages/protocol/src/index.js';

/** One message on one connection. */
export interface TraceEntry {
  /** Time in ms since the start of the trace. */
  atMs: number;
  /** Connection index. */
  conn: number;
  /** `down` server→client, `up` client→server. */
  dir: 'down' | 'up';
  message: Message;
  /** The gateway flushes its batch at once after this message (HELLO, READY, HEARTBEAT_ACK). */
  flushNow: boolean;
}

/** Trace parameters. */
export interface TraceOptions {
  seed?: number;
  durationMs?: number;
  /** Members in the room when the trace starts (before the observed joiner). */
  initialMembers?: number;
  /**
   * `realistic`: 19-digit snowflake user ids and a namespaced room name (what services use);
   * `short`: `u42` and `lobby` (a lower bound on what identifiers cost).
   */
  ids?: 'realistic' | 'short';
}

/** Everything a participant may carry; only the fields the current schema lists are sent. */
export interface ParticipantRecord {
  userId: string;
  name: string;
  muted: boolean;
  deafened: boolean;
  speaking: boolean;
  /** Media stream id (u32), for protocol versions whose participants carry one. */
  ssrc: number;
}

// The participant schema's field names, read from ROOM_JOINED so that the benchmarks follow
// the protocol as it evolves (a field added to the schema must be added to the record above).
const participantFields = (
  EventSchemas.ROOM_JOINED.fields[2][1].of as unknown as { fields: ReadonlyArray<[string]> }
).fields.map(([name]) => name);

/**
 * The participant the current schema describes, from a full record.
 * @throws {Error} when the schema has a field this benchmark does not know.
 */
export function toParticipant(record: ParticipantRecord): Participant {
  const out: Record<string, unknown> = {};
  for (const f of participantFields) {
    if (!(f in record)) throw new Error(`bench/gateway: unknown participant field "${f}"`);
    out[f] = record[f as keyof ParticipantRecord];
  }
  return out as Participant;
}

const FIRST = ['Alex', 'Sam', 'Robin', 'Kai', 'Jordan', 'Noa', 'Mika', 'Luca', 'Ada', 'Yuki'];
const LAST = ['Martin', 'Okafor', 'Nguyen', 'Schmidt', 'Silva', 'Kowalski', 'Haddad', 'Ito'];

interface Member {
  conn: number;
  ssrc: number;
  userId: string;
  name: string;
  seq: number;
  muted: boolean;
  deafened: boolean;
  speaking: boolean;
  req: number;
}

/** Builds the trace, sorted by time (stable). */
export function buildTrace(options: TraceOptions = {}): TraceEntry[] {
  const rand = rng(options.seed ?? 42);
  const durationMs = options.durationMs ?? 60_000;
  const initial = options.initialMembers ?? 99;
  const shortIds = options.ids === 'short';
  const room = shortIds ? 'lobby' : 'guild-8412:voice-general';
  const out: TraceEntry[] = [];
  const members = new Map<number, Member>();
  // Scheduled activity, replayed in time order below (handlers may schedule more).
  const events: { atMs: number; run: () => void }[] = [];
  let nextConn = 0;
  let nextUser = 0;

  const newMember = (): Member => {
    const n = nextUser++;
    // Snowflake-like numeric ids, as real services use.
    const salt = Math.floor(rand() * 997);
    const userId = shortIds
      ? `u${n}`
      : String(1_093_845_712_345_678_900n + BigInt(n * 7_919 + salt));
    const name = `${FIRST[n % FIRST.length]!} ${LAST[Math.floor(rand() * LAST.length)]!}`;
    return {
      conn: nextConn++,
      ssrc: Math.imul(nextConn, 0x9e3779b9) >>> 0, // no rand(): keeps the trace stable
      userId,
      name,
      seq: 0,
      muted: rand() < 0.3,
      deafened: rand() < 0.05,
      speaking: false,
      req: 0,
    };
  };
  const participant = (m: Member): Participant =>
    toParticipant({
      userId: m.userId,
      name: m.name,
      muted: m.muted,
      deafened: m.deafened,
      speaking: m.speaking,
      ssrc: m.ssrc,
    });
  const push = (
    atMs: number,
    conn: number,
    dir: 'down' | 'up',
    message: Message,
    flushNow = false,
  ) => out.push({ atMs, conn, dir, message, flushNow });
  const dispatch = <K extends EventName>(atMs: number, m: Member, t: K, d: DispatchEvents[K]) =>
    push(atMs, m.conn, 'down', { op: Op.Dispatch, seq: ++m.seq, t, d } as Message);
  // Fan-out reaches each member a few hundred µs apart (one event loop pass).
  const fanout = <K extends EventName>(
    atMs: number,
    t: K,
    d: DispatchEvents[K],
    except?: Member,
  ) => {
    for (const m of members.values()) if (m !== except) dispatch(atMs + 0.2, m, t, d);
  };

  // Room already populated (their history is outside the trace; their seq is mid-stream).
  for (let i = 0; i < initial; i++) {
    const m = newMember();
    m.seq = 40 + Math.floor(rand() * 400);
    members.set(m.conn, m);
  }

  const identifyAndJoin = (atMs: number): Member => {
    const m = newMember();
    push(atMs, m.conn, 'down', helloMessage(), true);
    push(atMs + 1, m.conn, 'up', {
      op: Op.Identify,
      d: {
        protocolVersion: PROTOCOL_VERSION,
        token: fakeJwt(m.userId, rand),
        capabilities: {
          transports: ['ws', 'webrtc'],
          codecs: ['opus'],
          client: 'concord-sdk/0.1.0 (Chrome 131; Linux x86_64)',
        },
      },
    });
    push(
      atMs + 3,
      m.conn,
      'down',
      {
        op: Op.Ready,
        d: {
          sessionId: `s_${Math.floor(rand() * 2 ** 48).toString(36)}${m.conn.toString(36)}`,
          user: { id: m.userId, name: m.name },
          resumeWindowMs: 60_000,
          // 24 random bytes in base64url, as the gateway makes them.
          resumeSecret: Math.floor(rand() * 2 ** 48)
            .toString(36)
            .padEnd(32, 'x'),
          tokenExpiresInMs: 3_540_000,
        },
      },
      true,
    );
    const req = ++m.req;
    push(atMs + 4, m.conn, 'up', { op: Op.JoinRoom, d: { req, room } });
    members.set(m.conn, m);
    const all = [...members.values()].map(participant);
    dispatch(atMs + 5, m, 'ROOM_JOINED', { req, room, participants: all });
    fanout(atMs + 5, 'PARTICIPANT_JOINED', { room, participant: participant(m) }, m);
    return m;
  };

  // t = 0: the observed session identifies and joins: 100-participant ROOM_JOINED.
  identifyAndJoin(0);

  // Heartbeats: every connection every 30 s, first beat jittered (random phase).
  for (const m of [...members.values()]) scheduleHeartbeats(m, rand() * 30_000);
  function scheduleHeartbeats(m: Member, firstMs: number): void {
    let nonce = Math.floor(rand() * 1e6);
    for (let t = firstMs; t < durationMs; t += 30_000) {
      const at = t;
      events.push({
        atMs: at,
        run: () => {
          if (!members.has(m.conn)) return;
          push(at, m.conn, 'up', { op: Op.Heartbeat, d: { nonce: ++nonce, seq: m.seq } });
          push(at + 0.5, m.conn, 'down', { op: Op.HeartbeatAck, d: { nonce } }, true);
        },
      });
    }
  }

  const randomMember = (): Member => {
    const all = [...members.values()];
    return all[Math.floor(rand() * all.length)]!;
  };

  // Churn: someone leaves or a new session joins every ~4 s on average.
  for (let t = 1_000; t < durationMs; t += 1_000 + rand() * 6_000) {
    const at = t;
    const leave = rand() < 0.5;
    events.push({
      atMs: at,
      run: () => {
        if (leave && members.size > 2) {
          const m = randomMember();
          const req = ++m.req;
          push(at, m.conn, 'up', { op: Op.LeaveRoom, d: { req, room } });
          dispatch(at + 0.5, m, 'ROOM_LEFT', { req, room, reason: 'requested' });
          members.delete(m.conn);
          fanout(at + 0.5, 'PARTICIPANT_LEFT', { room, userId: m.userId });
        } else {
          const m = identifyAndJoin(at);
          scheduleHeartbeats(m, at + 5 + rand() * 30_000);
        }
      },
    });
  }

  // Voice-state changes: mute/unmute (sometimes deafen) every ~1.5 s across the room.
  for (let t = 300; t < durationMs; t += 200 + rand() * 2_600) {
    const at = t;
    events.push({
      atMs: at,
      run: () => {
        const m = randomMember();
        if (rand() < 0.15) m.deafened = !m.deafened;
        else m.muted = !m.muted;
        const req = ++m.req;
        push(at, m.conn, 'up', {
          op: Op.UpdateVoiceState,
          d: { req, room, muted: m.muted, deafened: m.deafened },
        });
        fanout(at + 0.5, 'VOICE_STATE_UPDATE', {
          ssrc: m.ssrc,
          muted: m.muted,
          deafened: m.deafened,
        });
        dispatch(at + 0.6, m, 'REQUEST_ACK', { req });
      },
    });
  }

  // Conversation: 3 talk-spurt slots, spurts of 0.3–3 s with 0.2–2 s pauses (voice-activity
  // detection toggles SPEAKING at each edge); each spurt picks a random member.
  for (let slot = 0; slot < 3; slot++) {
    let speaker: Member | undefined;
    let t = rand() * 1_000;
    for (let edge = 0; t < durationMs; edge++) {
      const at = t;
      events.push({
        atMs: at,
        run: () => {
          if (speaker === undefined) {
            const m = randomMember();
            if (m.speaking) return;
            speaker = m;
          } else if (!members.has(speaker.conn)) {
            speaker = undefined;
            return;
          }
          const m = speaker;
          m.speaking = !m.speaking;
          if (!m.speaking) speaker = undefined;
          push(at, m.conn, 'up', { op: Op.Speaking, d: { room, speaking: m.speaking } });
          fanout(at + 0.4, 'SPEAKING', { ssrc: m.ssrc, speaking: m.speaking }, m);
        },
      });
      t += edge % 2 === 0 ? 300 + rand() * 2_700 : 200 + rand() * 1_800;
    }
  }

  // Replay in time order; handlers may schedule more events (a joiner's heartbeats).
  while (events.length > 0) {
    let min = 0;
    for (let i = 1; i < events.length; i++) if (events[i]!.atMs < events[min]!.atMs) min = i;
    const [next] = events.splice(min, 1);
    next!.run();
  }
  return out.filter((e) => e.atMs < durationMs).sort((a, b) => a.atMs - b.atMs);
}

function helloMessage(): Message {
  return {
    op: Op.Hello,
    d: {
      protocolVersion: PROTOCOL_VERSION,
      heartbeatIntervalMs: 30_000,
      limits: {
        maxFrameBytes: 262_144,
        maxDecompressedBytes: 1_048_576,
        maxMessagesPerBatch: 256,
        maxStringBytes: 4_096,
        maxArrayLength: 10_000,
        maxDepth: 8,
      },
      rateLimit: { messages: 120, windowMs: 60_000 },
      maxRoomsPerSession: 4,
    },
  };
}

// A JWT-shaped token of realistic length (HS256 header, claims, signature): content is random.
function fakeJwt(userId: string, rand: () => number): string {
  const b64 = (n: number): string => {
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let s = '';
    for (let i = 0; i < n; i++) s += abc[Math.floor(rand() * 64)];
    return s;
  };
  const claims = Buffer.from(
    JSON.stringify({
      sub: userId,
      rooms: ['guild-8412:*'],
      iat: 1_764_300_000,
      exp: 1_764_303_600,
    }),
  ).toString('base64url');
  return `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${claims}.${b64(43)}`;
}
