import { Op } from '@concord/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeGateway, participant } from './connection/FakeWebSocket.test-util.js';
import { ConnectionError, InvalidStateError, RequestError } from './errors.js';
import {
  answerJoin,
  connectedClient,
  joinedRoom,
  ME,
  settle,
  URL,
} from './room/roomFixture.test-util.js';
import { VoiceClient } from './VoiceClient.js';
import { DEFAULT_SPEAKING_HANGOVER_MS } from './room/SpeakingHangover.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Drops the socket and lets the client open the next one (backoff 250 ms with random 0.5). */
async function dropAndHello(gateway: FakeGateway, code = 1006) {
  gateway.socket.serverClose(code);
  await vi.advanceTimersByTimeAsync(250);
  gateway.socket.hello(30_000);
  await settle();
  return gateway.socket;
}

describe('VoiceClient', () => {
  it('rejects a bad url or token with TypeError', () => {
    const WebSocket = new FakeGateway().WebSocket;
    expect(() => new VoiceClient({ url: 'localhost:8080', token: 't', WebSocket })).toThrow(
      TypeError,
    );
    expect(() => new VoiceClient({ url: URL, token: '', WebSocket })).toThrow(TypeError);
  });

  it('connects, reports its user and forwards state changes', async () => {
    const gateway = new FakeGateway();
    const client = new VoiceClient({ url: URL, token: 't', WebSocket: gateway.WebSocket });
    const states: string[] = [];
    client.on('stateChange', (_p, n) => states.push(n));
    expect(client.state).toBe('idle');
    expect(client.user).toBeUndefined();
    expect(client.rttMs).toBeNaN();
    const connecting = client.connect();
    gateway.socket.hello(30_000);
    await settle();
    gateway.socket.ready('s', ME);
    await connecting;
    expect(client.state).toBe('ready');
    expect(client.user).toEqual(ME);
    expect(states).toEqual(['connecting', 'identifying', 'ready']);
    expect(client.gateway.sessionInfo?.sessionId).toBe('s');
  });

  it('emits rtt on heartbeat ACKs', async () => {
    const { gateway, client } = await connectedClient();
    const rtt = vi.fn();
    client.on('rtt', rtt);
    await vi.advanceTimersByTimeAsync(15_000); // first beat: 30 s × 0.5
    gateway.socket.heartbeatAck();
    expect(rtt).toHaveBeenCalledTimes(1);
    expect(client.rttMs).toBeGreaterThanOrEqual(0);
  });

  describe('join', () => {
    it('rejects bad room names with TypeError/RangeError before sending anything', async () => {
      const { gateway, client } = await connectedClient();
      await expect(client.join(42 as unknown as string)).rejects.toThrow(TypeError);
      await expect(client.join('')).rejects.toThrow(RangeError);
      await expect(client.join('x'.repeat(129))).rejects.toThrow(/1–128/);
      expect(gateway.socket.sentOf(Op.JoinRoom)).toHaveLength(0);
      void client.join('x'.repeat(128));
      expect(gateway.socket.sentOf(Op.JoinRoom)).toHaveLength(1);
    });

    it('throws InvalidStateError before connect() and after disconnect()', async () => {
      const gateway = new FakeGateway();
      const client = new VoiceClient({ url: URL, token: 't', WebSocket: gateway.WebSocket });
      await expect(client.join('lobby')).rejects.toBeInstanceOf(InvalidStateError);
      const { client: c2 } = await connectedClient();
      await c2.disconnect();
      await expect(c2.join('lobby')).rejects.toBeInstanceOf(InvalidStateError);
      await expect(c2.connect()).rejects.toBeInstanceOf(InvalidStateError);
    });

    it('returns the same Room for a room already joined', async () => {
      const { gateway, client, room } = await joinedRoom();
      await expect(client.join('lobby')).resolves.toBe(room);
      expect(gateway.socket.sentOf(Op.JoinRoom)).toHaveLength(1);
      expect(client.rooms.get('lobby')).toBe(room);
    });

    it('two concurrent join() calls for one room send one JOIN_ROOM and get the same Room', async () => {
      const { gateway, client } = await connectedClient();
      const first = client.join('lobby');
      const second = client.join('lobby');
      answerJoin(gateway, 'lobby', [participant('me')]);
      const [a, b] = await Promise.all([first, second]);
      expect(a).toBe(b);
      expect(gateway.socket.sentOf(Op.JoinRoom)).toHaveLength(1);
    });

    it('routes SPEAKING / VOICE_STATE_UPDATE by ssrc to the room of that membership', async () => {
      const { gateway, client, room: lobby } = await joinedRoom();
      const joining = client.join('stage');
      // bob is in both rooms, with one ssrc per membership.
      answerJoin(gateway, 'stage', [participant('me'), participant('bob')]);
      const stage = await joining;
      const seen: string[] = [];
      for (const room of [lobby, stage]) {
        room.on('speakingChanged', (p, on) => seen.push(`${room.name}/${p.userId}:${on}`));
        room.on('voiceStateChanged', (p, v) => seen.push(`${room.name}/${p.userId}:${v.muted}`));
      }
      const inStage = stage.participants.get('bob')!.ssrc;
      const inLobby = lobby.participants.get('bob')!.ssrc;
      expect(inStage).not.toBe(inLobby);
      gateway.dispatch('SPEAKING', { ssrc: inStage, speaking: true });
      gateway.dispatch('VOICE_STATE_UPDATE', { ssrc: inLobby, muted: false, deafened: false });
      gateway.dispatch('SPEAKING', { ssrc: inLobby, speaking: true });
      gateway.dispatch('VOICE_STATE_UPDATE', { ssrc: inStage, muted: true, deafened: false });
      expect(seen).toEqual([
        'stage/bob:true',
        'lobby/bob:false',
        'lobby/bob:true',
        'stage/bob:true',
      ]);
      expect(stage.participants.get('bob')).toMatchObject({ speaking: true, muted: true });
      expect(lobby.participants.get('bob')).toMatchObject({ speaking: true, muted: false });
    });

    it('the microphone VAD goes through the hangover: a flickering sentence sends one SPEAKING period', async () => {
      const { gateway, client, room } = await joinedRoom();
      const vad = client.localAudio as unknown as {
        safeEmit(event: 'speakingChanged', speaking: boolean): void;
      };
      const local: boolean[] = [];
      room.on('speakingChanged', (p, on) => p.isLocal && local.push(on));
      // A sentence with 60 ms and 220 ms VAD dropouts, then a real pause.
      for (const [on, ms] of [
        [true, 500],
        [false, 60],
        [true, 300],
        [false, 220],
        [true, 400],
      ] as const) {
        vad.safeEmit('speakingChanged', on);
        await vi.advanceTimersByTimeAsync(ms);
      }
      vad.safeEmit('speakingChanged', false);
      await vi.advanceTimersByTimeAsync(DEFAULT_SPEAKING_HANGOVER_MS - 1);
      expect(local).toEqual([true]);
      await vi.advanceTimersByTimeAsync(1);
      expect(local).toEqual([true, false]);
      expect(gateway.socket.sentOf(Op.Speaking).map((m) => m.d.speaking)).toEqual([true, false]);
    });

    it('rejects a speaking hangover outside [0, 5000] ms', () => {
      const WebSocket = new FakeGateway().WebSocket;
      expect(
        () => new VoiceClient({ url: URL, token: 't', WebSocket, speakingHangoverMs: -5 }),
      ).toThrow(/hangoverMs/);
    });

    it('rejects with RequestError when the server refuses', async () => {
      const { gateway, client } = await connectedClient();
      const joining = client.join('full');
      const req = gateway.socket.lastOf(Op.JoinRoom)!.d.req;
      gateway.dispatch('REQUEST_ERROR', { req, code: 'ROOM_FULL', message: 'room full: full' });
      await expect(joining).rejects.toMatchObject({ reason: 'ROOM_FULL' });
      await expect(joining).rejects.toBeInstanceOf(RequestError);
      expect(client.rooms.size).toBe(0);
    });

    it('rejects with ConnectionError when the connection is closed for good meanwhile (4009)', async () => {
      const { gateway, client } = await connectedClient();
      const joining = client.join('secret');
      gateway.socket.serverClose(4009, 'room forbidden');
      await expect(joining).rejects.toMatchObject({ name: 'ConnectionError', closeCode: 4009 });
      expect(client.state).toBe('closed');
    });
  });

  describe('reconnect', () => {
    it('after a resume: reconnected(true), no rejoin, replayed events applied once', async () => {
      const { gateway, client, room } = await joinedRoom();
      const events: string[] = [];
      client.on('reconnecting', () => events.push('reconnecting'));
      client.on('reconnected', (resumed) => events.push(`reconnected:${resumed}`));
      room.on('voiceStateChanged', (p, s) => events.push(`${p.userId}:muted=${s.muted}`));
      room.on('participantJoined', (p) => events.push(`joined:${p.userId}`));
      const s2 = await dropAndHello(gateway);
      expect(s2.lastOf(Op.Resume)).toMatchObject({ d: { sessionId: 'session-1', seq: 1 } });
      // Replay: seq 1 again (already seen), then two missed events.
      s2.dispatch(1, 'ROOM_JOINED', {
        req: 1,
        room: 'lobby',
        participants: [participant('me'), participant('bob', { muted: true })],
      });
      s2.dispatch(2, 'VOICE_STATE_UPDATE', {
        ssrc: room.participants.get('bob')!.ssrc,
        muted: false,
        deafened: false,
      });
      s2.dispatch(3, 'PARTICIPANT_JOINED', { room: 'lobby', participant: participant('carol') });
      s2.resumed(2);
      s2.dispatch(3, 'PARTICIPANT_JOINED', { room: 'lobby', participant: participant('carol') });
      await settle();
      expect(events).toEqual([
        'reconnecting',
        'bob:muted=false',
        'joined:carol',
        'reconnected:true',
      ]);
      expect(s2.sentOf(Op.JoinRoom)).toHaveLength(0);
      expect(room.state).toBe('joined');
    });

    it('after a new session: rejoins, reconciles the members and restores muted', async () => {
      const { gateway, client, room } = await joinedRoom();
      // Mute first, as the user would.
      const muting = room.setMuted(true);
      const muteReq = gateway.socket.lastOf(Op.UpdateVoiceState)!.d.req;
      const firstSsrc = room.localParticipant.ssrc;
      gateway.dispatch('VOICE_STATE_UPDATE', { ssrc: firstSsrc, muted: true, deafened: false });
      gateway.dispatch('REQUEST_ACK', { req: muteReq });
      await muting;

      const events: string[] = [];
      client.on('reconnected', (resumed) => events.push(`reconnected:${resumed}`));
      room.on('participantJoined', (p) => events.push(`joined:${p.userId}`));
      room.on('participantLeft', (p) => events.push(`left:${p.userId}`));
      room.on('stateChange', (_p, n) => events.push(`room:${n}`));
      room.on('left', (reason) => events.push(`room left:${reason}`));

      const s2 = await dropAndHello(gateway);
      s2.invalidSession(false);
      await settle();
      expect(s2.received.map((m) => m.op)).toEqual([Op.Resume, Op.Identify]);
      gateway.newSession();
      s2.ready('session-2', ME);
      await settle();
      // The room asks to join again; meanwhile bob left and carol arrived.
      answerJoin(gateway, 'lobby', [participant('me'), participant('carol', { deafened: true })]);
      await settle();
      const restore = s2.lastOf(Op.UpdateVoiceState);
      expect(restore?.d).toMatchObject({ room: 'lobby', muted: true, deafened: false });
      // The new membership has a new ssrc, which the server's events now name.
      expect(room.localParticipant.ssrc).not.toBe(firstSsrc);
      gateway.dispatch('VOICE_STATE_UPDATE', {
        ssrc: room.localParticipant.ssrc,
        muted: true,
        deafened: false,
      });
      gateway.dispatch('REQUEST_ACK', { req: restore!.d.req });
      await settle();

      expect(events).toEqual([
        'room:rejoining',
        'reconnected:false',
        'joined:carol',
        'left:bob',
        'room:joined',
      ]);
      expect(room.state).toBe('joined');
      expect(room.localParticipant.muted).toBe(true);
      expect([...room.participants.keys()].sort()).toEqual(['carol', 'me']);
      expect(room.participants.get('carol')!.deafened).toBe(true);
      expect(client.rooms.get('lobby')).toBe(room);
    });

    it('setMuted during a rejoin waits for the room and applies the mute after it', async () => {
      const { gateway, room } = await joinedRoom();
      const s2 = await dropAndHello(gateway);
      s2.invalidSession(false);
      await settle();
      gateway.newSession();
      s2.ready('session-2', ME);
      await settle();
      expect(room.state).toBe('rejoining');
      const muting = room.setMuted(true);
      await settle();
      // Nothing is sent for a room the new session has not joined yet.
      expect(s2.sentOf(Op.UpdateVoiceState)).toHaveLength(0);
      answerJoin(gateway, 'lobby', [participant('me')]);
      await settle();
      const restore = s2.lastOf(Op.UpdateVoiceState);
      expect(restore?.d).toMatchObject({ room: 'lobby', muted: true });
      gateway.dispatch('VOICE_STATE_UPDATE', {
        ssrc: room.localParticipant.ssrc,
        muted: true,
        deafened: false,
      });
      gateway.dispatch('REQUEST_ACK', { req: restore!.d.req });
      await muting;
      expect(room.localParticipant.muted).toBe(true);
      expect(room.state).toBe('joined');
    });

    it('a refused rejoin leaves the room', async () => {
      const { gateway, room } = await joinedRoom();
      const left = vi.fn();
      room.on('left', left);
      const s2 = await dropAndHello(gateway);
      s2.invalidSession(false);
      await settle();
      gateway.newSession();
      s2.ready('session-2', ME);
      await settle();
      const req = s2.lastOf(Op.JoinRoom)!.d.req;
      gateway.dispatch('REQUEST_ERROR', { req, code: 'ROOM_FULL', message: 'room full' });
      await settle();
      expect(left).toHaveBeenCalledWith('rejoin failed');
      expect(room.state).toBe('left');
    });
  });

  describe('disconnect', () => {
    it('leaves every room, emits disconnected(undefined) once and is idempotent', async () => {
      const { gateway, client, room } = await joinedRoom();
      const disconnected = vi.fn();
      const left = vi.fn();
      client.on('disconnected', disconnected);
      room.on('left', left);
      await client.disconnect();
      await client.disconnect();
      expect(disconnected).toHaveBeenCalledTimes(1);
      expect(disconnected).toHaveBeenCalledWith(undefined);
      expect(left).toHaveBeenCalledWith('disconnected');
      expect(client.rooms.size).toBe(0);
      expect(gateway.socket.clientCloseCode).toBe(1000);
      await expect(room.setMuted(true)).rejects.toBeInstanceOf(InvalidStateError);
    });

    it('a must-not-reconnect close emits disconnected with the error', async () => {
      const { gateway, client, room } = await joinedRoom();
      const disconnected = vi.fn();
      client.on('disconnected', disconnected);
      gateway.socket.serverClose(4014, 'session replaced');
      expect(disconnected).toHaveBeenCalledTimes(1);
      const error = disconnected.mock.calls[0]![0] as ConnectionError;
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.closeCode).toBe(4014);
      expect(room.state).toBe('left');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(gateway.sockets).toHaveLength(1);
    });
  });
});
