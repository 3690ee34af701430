// Bad input: offenders of every kind in one room with well-behaved clients, against a real
// gateway process. Each offender must get exactly its documented close code; the well-behaved
// clients must see nothing but correct events.
import {
  CloseCode,
  DEFAULT_CLIENT_LIMITS,
  FLAG_BATCH,
  FrameCodec,
  FrameType,
  frameTypeOf,
  Op,
  PRE_AUTH_MAX_FRAME_BYTES,
  PRE_AUTH_OPS,
  PROTOCOL_VERSION,
  ProtocolError,
  readMediaHeader,
  type ClientMessage,
  type DispatchMessage,
  type Message,
} from '@concord/protocol';
import { base64url, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  freshLoopback,
  httpGet,
  metricValue,
  RawClient,
  sendersOf,
  startGateway,
  TEST_SECRET,
  type GatewayProcess,
} from './harness.js';

const ROOM = 'arena';
const MAX_PER_IP = 3;
const RATE_LIMIT = 120;
const KEY = new TextEncoder().encode(TEST_SECRET);

const token = (userId: string, rooms?: string[]): Promise<string> =>
  mintToken(TEST_SECRET, rooms ? { userId, rooms } : { userId });

/** Deterministic PRNG (mulberry32) for the garbage corpus. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const clientCodec = new FrameCodec({
  limits: DEFAULT_CLIENT_LIMITS,
  compressionThresholdBytes: 0,
  acceptCompressed: false,
});

/**
 * The close code the pre-auth rules assign to `frame` as a connection's first frame, or
 * undefined when it is an acceptable IDENTIFY/RESUME.
 */
function referenceCloseCode(frame: Uint8Array): number | undefined {
  try {
    if (frameTypeOf(frame) === FrameType.Media) {
      // A well-formed media frame before IDENTIFY is refused as unauthenticated.
      readMediaHeader(frame);
      return CloseCode.NOT_AUTHENTICATED;
    }
    if (frame.length > PRE_AUTH_MAX_FRAME_BYTES) return CloseCode.FRAME_TOO_LARGE;
    if ((frame[0]! & FLAG_BATCH) !== 0) return CloseCode.INVALID_FRAME;
    const [m] = clientCodec.decodeClientFrame(frame);
    return PRE_AUTH_OPS.has(m!.op) ? undefined : CloseCode.NOT_AUTHENTICATED;
  } catch (err) {
    if (err instanceof ProtocolError) return err.closeCode;
    throw err;
  }
}

/** Seeded random and mutated frames, each paired with the close code it must earn. */
function garbageCorpus(count: number): Array<{ frame: Uint8Array; code: number }> {
  const rand = prng(0xc0c0a);
  const codec = new FrameCodec({ compressionThresholdBytes: 0 });
  const valid: Message[] = [
    { op: Op.Heartbeat, d: { nonce: 7, seq: 3 } },
    { op: Op.JoinRoom, d: { req: 1, room: ROOM } },
    { op: Op.Speaking, d: { room: ROOM, speaking: true } },
  ];
  const corpus: Array<{ frame: Uint8Array; code: number }> = [];
  while (corpus.length < count) {
    let frame: Uint8Array;
    if (corpus.length % 2 === 0) {
      frame = new Uint8Array(1 + Math.floor(rand() * 48));
      for (let i = 0; i < frame.length; i++) frame[i] = Math.floor(rand() * 256);
    } else {
      frame = codec.encode(valid[corpus.length % valid.length]!).slice();
      for (let flips = 1 + Math.floor(rand() * 3); flips > 0; flips--)
        frame[Math.floor(rand() * frame.length)] = Math.floor(rand() * 256);
    }
    const code = referenceCloseCode(frame);
    if (code !== undefined) corpus.push({ frame, code });
  }
  return corpus;
}

type Offender = {
  name: string;
  expected: number;
  /** Joins the room before misbehaving (the room then sees it join and leave). */
  joins?: boolean;
  /** Runs the offence on a client that saw HELLO (and READY + ROOM_JOINED when it joins). */
  act: (c: RawClient) => void | Promise<void>;
  /** Token to identify with when joining. */
  token?: () => Promise<string>;
};

describe('bad input', () => {
  let gw: GatewayProcess;
  const good: RawClient[] = [];
  const goodUsers = ['good-0', 'good-1', 'good-2', 'good-3'];
  const others: RawClient[] = [];

  beforeAll(async () => {
    gw = await startGateway([
      '--max-connections-per-ip',
      String(MAX_PER_IP),
      '--resume-window-ms',
      '1000',
      '--rate-limit-messages',
      String(RATE_LIMIT),
      '--rate-limit-window-ms',
      '60000',
    ]);
    for (const user of goodUsers) {
      const c = await RawClient.identified(gw.url, await token(user), freshLoopback());
      await c.join(ROOM);
      good.push(c);
    }
    // Everyone has seen everyone else.
    for (const [i, c] of good.entries())
      await c.waitForCount(
        (m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_JOINED',
        good.length - 1 - i,
      );
  });

  afterAll(async () => {
    for (const c of [...good, ...others]) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  const identifyMsg = (tok: string, protocolVersion = PROTOCOL_VERSION): ClientMessage => ({
    op: Op.Identify,
    d: {
      protocolVersion,
      token: tok,
      capabilities: { transports: ['ws'], codecs: ['opus'], client: 'offender' },
    },
  });

  const offenders = (): Offender[] => [
    {
      name: 'reserved frame type',
      expected: CloseCode.INVALID_FRAME,
      act: (c) => c.sendRaw(new Uint8Array([0xff, 0x13, 0x37])),
    },
    {
      name: 'media frame',
      expected: CloseCode.INVALID_FRAME,
      act: (c) => c.sendRaw(new Uint8Array([0x40, 1, 2, 3])),
    },
    {
      name: 'MessagePack garbage',
      expected: CloseCode.INVALID_PAYLOAD,
      act: (c) => c.sendRaw(new Uint8Array([0x00, 0xc1, 0xc1])),
    },
    {
      name: 'server-only opcode',
      expected: CloseCode.INVALID_PAYLOAD,
      act: (c) => c.sendRaw(c.codec.encode({ op: Op.InvalidSession, d: { resumable: true } })),
    },
    {
      name: 'oversized string (a 5,000-byte token)',
      expected: CloseCode.LIMIT_EXCEEDED,
      act: (c) => c.send(identifyMsg('x'.repeat(5_000))),
    },
    {
      name: 'IDENTIFY over the pre-auth frame limit',
      expected: CloseCode.FRAME_TOO_LARGE,
      act: (c) => c.sendRaw(new Uint8Array(PRE_AUTH_MAX_FRAME_BYTES + 1)),
    },
    {
      name: 'heartbeat before IDENTIFY',
      expected: CloseCode.NOT_AUTHENTICATED,
      act: (c) => c.send({ op: Op.Heartbeat, d: { nonce: 1, seq: 0 } }),
    },
    {
      name: 'batched IDENTIFY',
      expected: CloseCode.INVALID_FRAME,
      act: async (c) => c.send([identifyMsg(await token('batch')), identifyMsg('dev:x')]),
    },
    {
      name: 'LZ4 IDENTIFY',
      expected: CloseCode.INVALID_FRAME,
      act: async (c) =>
        c.sendRaw(
          new FrameCodec({ compressionThresholdBytes: 64 }).encode(
            identifyMsg(await token(`lz4-${'z'.repeat(100)}`)),
          ),
        ),
    },
    {
      name: 'IDENTIFY padded with a trailing field',
      expected: CloseCode.INVALID_PAYLOAD,
      act: async (c) => {
        const m = c.codec.encodeMessage(identifyMsg(await token('padded')));
        // fixarray(4) → fixarray(5) and one more element: a 1 KiB string nobody reads.
        const padded = new Uint8Array([0x00, m[0]! + 1, ...m.subarray(1), 0xda, 0x04, 0x00]);
        c.sendRaw(new Uint8Array([...padded, ...new Uint8Array(1024).fill(0x61)]));
      },
    },
    {
      name: 'a second frame while the IDENTIFY is checked',
      expected: CloseCode.NOT_AUTHENTICATED,
      act: async (c) => {
        c.send(identifyMsg(await token('eager')));
        c.send({ op: Op.JoinRoom, d: { req: 1, room: ROOM } });
      },
    },
    {
      name: 'oversized client frame after READY',
      expected: CloseCode.FRAME_TOO_LARGE,
      joins: true,
      act: (c) => c.sendRaw(new Uint8Array(DEFAULT_CLIENT_LIMITS.maxFrameBytes + 1)),
    },
    {
      name: 'frame over the WebSocket payload cap (ws closes with 1009)',
      expected: 1009,
      joins: true,
      act: (c) => c.sendRaw(new Uint8Array(300 * 1024)),
    },
    {
      name: 'LZ4 frame after READY (clients never compress)',
      expected: CloseCode.INVALID_FRAME,
      joins: true,
      act: (c) => {
        const frame = new Uint8Array(16);
        frame[0] = 0x01; // control frame, LZ4
        new DataView(frame.buffer).setUint32(1, 0x7fff_ffff, true);
        c.sendRaw(frame);
      },
    },
    {
      name: 'compression bomb before READY (real LZ4 of 4 MiB)',
      expected: CloseCode.FRAME_TOO_LARGE,
      act: (c) => {
        const big = 4 * 1024 * 1024;
        const bomber = new FrameCodec({
          compressionThresholdBytes: 64,
          limits: { maxDecompressedBytes: big * 2, maxStringBytes: big * 2 },
        });
        const frame = bomber.encode(identifyMsg('a'.repeat(big)));
        expect(frame.length).toBeLessThan(256 * 1024);
        expect(frame[0]! & 0x01).toBe(1);
        c.sendRaw(frame);
      },
    },
    {
      name: 'string over its schema length after READY',
      expected: CloseCode.LIMIT_EXCEEDED,
      joins: true,
      act: (c) => c.send({ op: Op.JoinRoom, d: { req: 2, room: 'r'.repeat(129) } }),
    },
    {
      name: 'control-message flood',
      expected: CloseCode.RATE_LIMITED,
      joins: true,
      act: (c) => {
        for (let i = 0; i < RATE_LIMIT + 10; i++)
          c.send({ op: Op.Heartbeat, d: { nonce: i, seq: c.lastSeq } });
      },
    },
    {
      name: 'join before IDENTIFY',
      expected: CloseCode.NOT_AUTHENTICATED,
      act: (c) => c.send({ op: Op.JoinRoom, d: { req: 1, room: ROOM } }),
    },
    {
      name: 'speaking before IDENTIFY',
      expected: CloseCode.NOT_AUTHENTICATED,
      act: (c) => c.send({ op: Op.Speaking, d: { room: ROOM, speaking: true } }),
    },
    {
      name: 'second IDENTIFY',
      expected: CloseCode.ALREADY_AUTHENTICATED,
      joins: true,
      act: async (c) => c.send(identifyMsg(await token('again'))),
    },
    {
      name: 'unsupported protocol version',
      expected: CloseCode.UNSUPPORTED_VERSION,
      act: async (c) => c.send(identifyMsg(await token('future'), PROTOCOL_VERSION + 1)),
    },
    {
      name: 'tampered token',
      expected: CloseCode.AUTHENTICATION_FAILED,
      act: async (c) => {
        const [h, p, s] = (await token('tamper', ['lobby'])).split('.') as [string, string, string];
        const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p))) as object;
        const forged = base64url.encode(JSON.stringify({ ...claims, rooms: ['*'] }));
        c.send(identifyMsg(`${h}.${forged}.${s}`));
      },
    },
    {
      name: 'unsigned token',
      expected: CloseCode.AUTHENTICATION_FAILED,
      act: (c) =>
        c.send(
          identifyMsg(
            new UnsecuredJWT({ rooms: ['*'] })
              .setSubject('unsigned')
              .setExpirationTime('1h')
              .encode(),
          ),
        ),
    },
    {
      name: 'token signed with the wrong secret',
      expected: CloseCode.AUTHENTICATION_FAILED,
      act: async (c) =>
        c.send(
          identifyMsg(
            await mintToken('wrong-secret-wrong-secret-wrong-secret!', { userId: 'wrong' }),
          ),
        ),
    },
    {
      name: 'dev token without insecure dev auth',
      expected: CloseCode.AUTHENTICATION_FAILED,
      act: (c) => c.send(identifyMsg('dev:admin')),
    },
    {
      name: 'expired token',
      expected: CloseCode.TOKEN_EXPIRED,
      act: async (c) =>
        c.send(
          identifyMsg(
            await new SignJWT({ rooms: ['*'] })
              .setProtectedHeader({ alg: 'HS256' })
              .setSubject('expired')
              .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
              .sign(KEY),
          ),
        ),
    },
    ...garbageCorpus(40).map(({ frame, code }, i) => ({
      name: `seeded garbage #${i}`,
      expected: code,
      act: (c: RawClient) => c.sendRaw(frame),
    })),
  ];

  it('closes each offender with its documented close code; the room sees only correct events', async () => {
    const list = offenders();
    const joinedOffenders = new Set<string>();
    // Every documented protocol and auth close code is exercised at least once.
    const codes = new Set(list.map((o) => o.expected));
    for (const code of [4001, 4002, 4003, 4004, 4005, 4007, 4008, 4010, 4015, 4016])
      expect(codes).toContain(code);

    const results = await Promise.all(
      list.map(async (o, i) => {
        const c = await RawClient.connect(gw.url, freshLoopback());
        others.push(c);
        await c.waitFor((m) => m.op === Op.Hello);
        if (o.joins || o.token) {
          const user = `offender-${i}`;
          c.identify(o.token ? await o.token() : await token(user));
          await c.waitFor((m) => m.op === Op.Ready);
          if (o.joins) {
            await c.join(ROOM);
            joinedOffenders.add(user);
          }
        }
        await o.act(c);
        return { name: o.name, code: await c.closed(10_000), expected: o.expected };
      }),
    );
    expect(results.map((r) => `${r.name}: ${r.code}`)).toEqual(
      results.map((r) => `${r.name}: ${r.expected}`),
    );

    // Offenders that joined have all left: must-not-reconnect closes end their sessions at
    // once, the rate-limited one when its 1 s resume window runs out.
    for (const c of good)
      for (const userId of joinedOffenders)
        await c.waitFor(
          (m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_LEFT' && m.d.userId === userId,
          10_000,
        );
    // They can still talk.
    for (const [i, c] of good.entries())
      c.send({
        op: Op.UpdateVoiceState,
        d: { req: 100 + i, room: ROOM, muted: true, deafened: i % 2 === 1 },
      });
    for (const c of good)
      await c.waitForCount(
        (m) => m.op === Op.Dispatch && m.t === 'VOICE_STATE_UPDATE',
        good.length,
      );

    for (const [i, c] of good.entries()) {
      expect(c.closeCode).toBeUndefined();
      const ds = c.dispatches();
      expect(ds.map((d) => d.seq)).toEqual(ds.map((_, k) => k + 1));
      expect(ds[0]?.t).toBe('ROOM_JOINED');
      const allowed = new Set([...goodUsers, ...joinedOffenders]);
      const joined: string[] = [];
      const left: string[] = [];
      const acks: number[] = [];
      const senders = sendersOf(ds);
      for (const d of ds.slice(1) as DispatchMessage[]) {
        if (d.t === 'REQUEST_ACK') {
          acks.push(d.d.req);
          continue;
        }
        if (d.t === 'VOICE_STATE_UPDATE') expect(senders.get(d)?.room).toBe(ROOM);
        else expect(d.d).toHaveProperty('room', ROOM);
        switch (d.t) {
          case 'PARTICIPANT_JOINED':
            expect(allowed).toContain(d.d.participant.userId);
            joined.push(d.d.participant.userId);
            break;
          case 'PARTICIPANT_LEFT':
            expect(joinedOffenders).toContain(d.d.userId);
            left.push(d.d.userId);
            break;
          case 'VOICE_STATE_UPDATE': {
            const j = goodUsers.indexOf(senders.get(d)!.userId);
            expect(j).toBeGreaterThanOrEqual(0);
            expect(d.d).toEqual({ ssrc: d.d.ssrc, muted: true, deafened: j % 2 === 1 });
            break;
          }
          default:
            throw new Error(`unexpected ${d.t} for ${goodUsers[i]}: ${JSON.stringify(d.d)}`);
        }
      }
      expect(acks).toEqual([100 + i]);
      // Offenders joined and left exactly once each; nobody else left.
      expect(left.sort()).toEqual([...joinedOffenders].sort());
      expect(joined.filter((u) => joinedOffenders.has(u)).sort()).toEqual(
        [...joinedOffenders].sort(),
      );
      expect(joined.filter((u) => goodUsers.includes(u))).toEqual(goodUsers.slice(i + 1));
      expect(c.received.some((m) => m.op === Op.InvalidSession || m.op === Op.Reconnect)).toBe(
        false,
      );
    }

    // Every rejection is counted by close code.
    const health = await httpGet(gw, '/healthz');
    expect(health.status).toBe(200);
    const { body } = await httpGet(gw, '/metrics');
    for (const code of [
      'INVALID_FRAME',
      'INVALID_PAYLOAD',
      'NOT_AUTHENTICATED',
      'AUTHENTICATION_FAILED',
      'ALREADY_AUTHENTICATED',
      'RATE_LIMITED',
      'TOKEN_EXPIRED',
      'FRAME_TOO_LARGE',
      'UNSUPPORTED_VERSION',
      'LIMIT_EXCEEDED',
    ])
      expect(metricValue(body, 'concord_rejections_total', `code="${code}"`)).toBeGreaterThan(0);
    expect(metricValue(body, 'concord_rejections_total', 'code="AUTHENTICATION_FAILED"')).toBe(4);
    expect(metricValue(body, 'concord_rejections_total', 'code="TOKEN_EXPIRED"')).toBe(1);
  });

  it('a forbidden room is refused with REQUEST_ERROR; the connection and its other rooms stay', async () => {
    const c = await RawClient.identified(
      gw.url,
      await token('partial', ['team-*']),
      freshLoopback(),
    );
    others.push(c);
    await c.join('team-a');
    c.send({ op: Op.JoinRoom, d: { req: 7, room: ROOM } });
    const refusal = await c.waitFor((m) => m.op === Op.Dispatch && m.t === 'REQUEST_ERROR');
    expect(refusal).toMatchObject({ d: { req: 7, code: 'ROOM_FORBIDDEN' } });
    c.send({ op: Op.Heartbeat, d: { nonce: 3, seq: c.lastSeq } });
    await c.waitFor((m) => m.op === Op.HeartbeatAck);
    expect(c.closeCode).toBeUndefined();
    // Nobody in the forbidden room heard of it.
    for (const g of good)
      expect(
        g
          .dispatches()
          .some((d) => d.t === 'PARTICIPANT_JOINED' && d.d.participant.userId === 'partial'),
      ).toBe(false);
  });

  it('caps connections per address before the handshake (HTTP 429) and leaves the admitted ones working', async () => {
    const address = freshLoopback();
    const admitted: RawClient[] = [];
    for (let i = 0; i < MAX_PER_IP; i++) {
      const c = await RawClient.identified(gw.url, await token(`crowd-${i}`), address);
      admitted.push(c);
      others.push(c);
    }
    await expect(RawClient.connect(gw.url, address)).rejects.toThrow(/429/);
    for (const c of admitted) {
      c.send({ op: Op.Heartbeat, d: { nonce: 1, seq: 0 } });
      await c.waitFor((m) => m.op === Op.HeartbeatAck);
    }
    // A slot freed by a normal close can be used again.
    admitted[0]!.close();
    await admitted[0]!.closed();
    const again = await RawClient.identified(gw.url, await token('crowd-again'), address);
    others.push(again);
    const { body } = await httpGet(gw, '/metrics');
    expect(metricValue(body, 'concord_upgrades_refused_total', 'reason="per-ip"')).toBe(1);
  });
});
