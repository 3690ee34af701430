// A client whose socket is cut in the middle of a stream of events reconnects by itself,
// resumes, and ends up holding every event exactly once, in order. Real gateway, real sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayProcess } from '../../gateway/test/harness.js';
import { VoiceClient, type Room } from '../src/index.js';
import { NodeWebSocket, recordingWebSocket, waitFor } from './helpers.js';

const ROOM = 'resume-room';
const TOGGLES = 41;
const CUT_AFTER = 10;
const WAIT_FOR_RESUME_AT = 30;

describe('resume (real gateway)', () => {
  let gw: GatewayProcess;
  const clients: VoiceClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(['--insecure-dev-auth', '--batch-window-ms', '2']);
  });

  afterAll(async () => {
    for (const c of clients) await c.disconnect();
    expect(await gw.stop()).toBe(0);
  });

  it('a cut client resumes and holds every voice-state change exactly once, in order', async () => {
    const recorded = recordingWebSocket();
    const cut = new VoiceClient({
      url: gw.url,
      token: 'dev:cut:Cut',
      WebSocket: recorded.WebSocket,
      // The first retry waits 0.99 × 100 ms: long enough for the toggles after the cut to
      // reach the session while it is detached, so the resume must replay them.
      reconnect: { baseDelayMs: 100 },
      random: () => 0.99,
    });
    const toggler = new VoiceClient({
      url: gw.url,
      token: 'dev:toggler',
      WebSocket: NodeWebSocket,
    });
    const witness = new VoiceClient({
      url: gw.url,
      token: 'dev:witness',
      WebSocket: NodeWebSocket,
    });
    clients.push(cut, toggler, witness);
    await Promise.all(clients.map((c) => c.connect()));
    const cutRoom = await cut.join(ROOM);
    const witnessRoom = await witness.join(ROOM);
    const togglerRoom = await toggler.join(ROOM);
    await waitFor(
      () => cutRoom.remoteParticipants.length === 2 && witnessRoom.remoteParticipants.length === 2,
      'everyone sees everyone',
    );

    const mutedSeq = (room: Room): boolean[] => {
      const seq: boolean[] = [];
      room.on('voiceStateChanged', (p, s) => p.userId === 'toggler' && seq.push(s.muted));
      return seq;
    };
    const onCut = mutedSeq(cutRoom);
    const onWitness = mutedSeq(witnessRoom);
    const joinedOnCut: string[] = [];
    const leftOnCut: string[] = [];
    cutRoom.on('participantJoined', (p) => joinedOnCut.push(p.userId));
    cutRoom.on('participantLeft', (p) => leftOnCut.push(p.userId));
    const reconnected: boolean[] = [];
    const statuses: string[] = [];
    cut.on('reconnected', (resumed) => reconnected.push(resumed));
    cut.on('stateChange', (_p, n) => statuses.push(n));
    const seqBefore = cut.gateway.lastSeq;

    const expected: boolean[] = [];
    for (let i = 0; i < TOGGLES; i++) {
      const muted = i % 2 === 0;
      expected.push(muted);
      await togglerRoom.setMuted(muted);
      if (i === CUT_AFTER) {
        expect(recorded.sockets).toHaveLength(1);
        recorded.sockets[0]!.terminate(); // no close frame: what a network failure looks like
        await waitFor(() => cut.state === 'reconnecting', 'the cut to be noticed');
      }
      // Keep the stream going across the outage, then on past the resume.
      if (i === WAIT_FOR_RESUME_AT)
        await waitFor(() => reconnected.length === 1, 'the cut client to reconnect');
    }

    const final = expected.at(-1)!;
    await waitFor(() => onCut.length === TOGGLES, `${TOGGLES} changes on the cut client`);
    await waitFor(() => onWitness.length === TOGGLES, `${TOGGLES} changes on the witness`);
    expect(onWitness).toEqual(expected);
    expect(onCut).toEqual(expected);
    expect(reconnected).toEqual([true]);
    expect(statuses).toEqual(['reconnecting', 'connecting', 'resuming', 'ready']);
    expect(recorded.sockets).toHaveLength(2);
    expect(cutRoom.state).toBe('joined');
    expect(cutRoom.participants.get('toggler')!.muted).toBe(final);
    expect(joinedOnCut).toEqual([]);
    expect(leftOnCut).toEqual([]);
    // Every event went through the same session: one seq per change, none skipped or doubled.
    expect(cut.gateway.lastSeq).toBe(seqBefore + TOGGLES);
    const resumedLog = gw.logs
      .map((l) => JSON.parse(l) as { msg?: string; userId?: string; replayed?: number })
      .find((l) => l.msg === 'session resumed' && l.userId === 'cut');
    expect(resumedLog?.replayed).toBeGreaterThan(0);
  });
});
