// The media relay against a real gateway process: selective forwarding of the loudest
// speakers with the bytes untouched, ssrc ownership and the media flood limit.
import {
  CloseCode,
  encodeMediaFrame,
  MediaFlags,
  Op,
  type DispatchMessage,
} from '@concord/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import {
  freshLoopback,
  httpGet,
  metricValue,
  RawClient,
  startGateway,
  TEST_SECRET,
  type GatewayProcess,
} from './harness.js';

const ROOM = 'voice';
const FRAME_MS = 20;

async function joined(
  gw: GatewayProcess,
  user: string,
  room = ROOM,
): Promise<{ c: RawClient; ssrc: number }> {
  const c = await RawClient.identified(
    gw.url,
    await mintToken(TEST_SECRET, { userId: user }),
    freshLoopback(),
  );
  await c.join(room);
  const reply = c.dispatches().find((m) => m.t === 'ROOM_JOINED') as DispatchMessage & {
    t: 'ROOM_JOINED';
  };
  const self = reply.d.participants.find((p) => p.userId === user)!;
  return { c, ssrc: self.ssrc };
}

const key = (f: Uint8Array): string => Buffer.from(f.subarray(1, 7)).toString('hex'); // ssrc + seq
const ssrcOf = (f: Uint8Array): number => Buffer.from(f).readUInt32BE(1);
const seqOf = (f: Uint8Array): number => Buffer.from(f).readUInt16BE(5);

describe('media relay (gateway process)', () => {
  let gw: GatewayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(['--max-speakers', '3']);
  });

  afterAll(async () => {
    for (const c of clients) c.cut();
    expect(await gw.stop()).toBe(0);
  });

  it('5 members, 4 speaking at different levels: each receives exactly the top-3 loudest, byte for byte', async () => {
    const members = [];
    for (let i = 0; i < 5; i++) members.push(await joined(gw, `m${i}`));
    clients.push(...members.map((m) => m.c));
    // −dBov levels (0 = loudest): m0 > m1 > m2 > m3; m4 only listens.
    const levels = [12, 20, 28, 50];
    const senders = members.slice(0, 4);
    const sent = new Map<string, Uint8Array>();
    const FRAMES = 75; // 1.5 s of 20 ms frames
    for (let seq = 0; seq < FRAMES; seq++) {
      senders.forEach(({ c, ssrc }, i) => {
        const payload = new Uint8Array(40 + i).map((_, j) => (j * 31 + seq + i) & 0xff);
        const frame = encodeMediaFrame(
          {
            ssrc,
            seq,
            timestamp: seq * 960,
            flags: MediaFlags.Speech | (seq % 2 ? MediaFlags.Fec : 0),
            level: levels[i]!,
          },
          payload,
        );
        sent.set(key(frame), frame);
        c.sendRaw(frame);
      });
      await new Promise((r) => setTimeout(r, FRAME_MS));
    }
    // Let the last frames arrive.
    await new Promise((r) => setTimeout(r, 200));

    const top3 = senders.slice(0, 3).map((s) => s.ssrc);
    for (const [i, { c, ssrc }] of members.entries()) {
      // Every frame received is one that was sent, unchanged.
      for (const f of c.media) expect(f).toEqual(sent.get(key(f)));
      expect(c.media.some((f) => ssrcOf(f) === ssrc)).toBe(false); // never its own
      // Once selection has settled (after the 600 ms hold), only the top 3 are forwarded.
      const settled = new Set(c.media.filter((f) => seqOf(f) >= 40).map(ssrcOf));
      const expected = top3.filter((s) => s !== ssrc);
      expect([...settled].sort(), `listener m${i}`).toEqual([...expected].sort());
      for (const s of expected) {
        const count = c.media.filter((f) => ssrcOf(f) === s && seqOf(f) >= 40).length;
        expect(count, `m${i} from ${s}`).toBe(FRAMES - 40);
      }
    }
    const { body } = await httpGet(gw, '/metrics');
    expect(
      metricValue(body, 'concord_media_frames_dropped_total', 'reason="not_selected"'),
    ).toBeGreaterThan(0);
    expect(metricValue(body, 'concord_media_frames_forwarded_total')).toBeGreaterThan(0);
  });

  it('closes a member that sends with another member’s ssrc with 4017 (must not reconnect)', async () => {
    const victim = await joined(gw, 'victim', 'spoof');
    const spoofer = await joined(gw, 'spoofer', 'spoof');
    clients.push(victim.c, spoofer.c);
    spoofer.c.sendRaw(
      encodeMediaFrame(
        { ssrc: victim.ssrc, seq: 1, timestamp: 960, flags: MediaFlags.Speech, level: 10 },
        new Uint8Array(20),
      ),
    );
    expect(await spoofer.c.closed()).toBe(CloseCode.SSRC_NOT_OWNED);
    // The victim sees the spoofer leave (its session ended) and received none of its frames.
    await victim.c.waitFor(
      (m) => m.op === Op.Dispatch && m.t === 'PARTICIPANT_LEFT' && m.d.userId === 'spoofer',
    );
    expect(victim.c.media.filter((f) => ssrcOf(f) === victim.ssrc)).toHaveLength(0);
  });

  it('drops a flood over the frame rate and closes it with 4007, others unaffected', async () => {
    const listener = await joined(gw, 'listener', 'flood');
    const flooder = await joined(gw, 'flooder', 'flood');
    clients.push(listener.c, flooder.c);
    const before = listener.c.media.length;
    for (let seq = 0; seq < 3_000; seq++)
      flooder.c.sendRaw(
        encodeMediaFrame(
          { ssrc: flooder.ssrc, seq, timestamp: seq * 960, flags: MediaFlags.Speech, level: 5 },
          new Uint8Array(60),
        ),
      );
    expect(await flooder.c.closed()).toBe(CloseCode.RATE_LIMITED);
    await new Promise((r) => setTimeout(r, 100)); // frames forwarded before the close
    const got = listener.c.media.filter((f) => ssrcOf(f) === flooder.ssrc).length;
    // At most the burst (20) plus what the 60 fps rate refilled during the flood.
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(60);
    expect(listener.c.media.length - before).toBe(got);
    expect(listener.c.closeCode).toBeUndefined();
    const { body } = await httpGet(gw, '/metrics');
    expect(
      metricValue(body, 'concord_media_frames_dropped_total', 'reason="rate_limited"'),
    ).toBeGreaterThan(100);
  });
});
