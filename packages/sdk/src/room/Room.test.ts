import { Op } from '@concord/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { participant } from '../connection/FakeWebSocket.test-util.js';
import { InvalidStateError, RequestError } from '../errors.js';
import { setLogHandler, setLogLevel, type LogHandler } from '../logger.js';
import type { Participant } from './Participant.js';
import { joinedRoom, settle } from './roomFixture.test-util.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  setLogLevel('silent');
});

/** Debug records from here on (restored to silent after each test). */
function debugLog(): Array<{ message: string; context?: Record<string, unknown> }> {
  const records: Array<{ message: string; context?: Record<string, unknown> }> = [];
  const handler: LogHandler = (level, _name, message, context) => {
    if (level === 'debug') records.push(context ? { message, context } : { message });
  };
  setLogHandler(handler);
  setLogLevel('debug');
  return records;
}

const ids = (ps: Iterable<Participant>): string[] => [...ps].map((p) => p.userId);

describe('Room', () => {
  it('holds the participant list from ROOM_JOINED, the local participant included', async () => {
    const { room } = await joinedRoom();
    expect(room.name).toBe('lobby');
    expect(room.state).toBe('joined');
    expect(ids(room.participants.values())).toEqual(['me', 'bob']);
    expect(room.localParticipant).toMatchObject({ userId: 'me', isLocal: true, muted: false });
    expect(ids(room.remoteParticipants)).toEqual(['bob']);
    expect(room.participants.get('bob')).toMatchObject({ name: 'BOB', muted: true });
  });

  it('emits participantJoined / participantLeft for others', async () => {
    const { gateway, room } = await joinedRoom();
    const joined: string[] = [];
    const left: string[] = [];
    room.on('participantJoined', (p) => joined.push(p.userId));
    room.on('participantLeft', (p) => left.push(p.userId));
    gateway.dispatch('PARTICIPANT_JOINED', { room: 'lobby', participant: participant('carol') });
    gateway.dispatch('PARTICIPANT_LEFT', { room: 'lobby', userId: 'bob' });
    gateway.dispatch('PARTICIPANT_LEFT', { room: 'lobby', userId: 'nobody' });
    gateway.dispatch('PARTICIPANT_LEFT', { room: 'lobby', userId: 'me' });
    expect(joined).toEqual(['carol']);
    expect(left).toEqual(['bob']);
    expect(ids(room.participants.values())).toEqual(['me', 'carol']);
  });

  it('a PARTICIPANT_JOINED for someone already present updates them without a second join', async () => {
    const { gateway, room } = await joinedRoom();
    const joined = vi.fn();
    const voice = vi.fn();
    room.on('participantJoined', joined);
    room.on('voiceStateChanged', voice);
    gateway.dispatch('PARTICIPANT_JOINED', {
      room: 'lobby',
      participant: participant('bob', { muted: false }),
    });
    expect(joined).not.toHaveBeenCalled();
    expect(voice).toHaveBeenCalledTimes(1);
    expect(room.participants.get('bob')!.muted).toBe(false);
  });

  it('a new membership of someone already present brings their new ssrc', async () => {
    const { gateway, room } = await joinedRoom();
    const speaking: [string, boolean][] = [];
    room.on('speakingChanged', (p, s) => speaking.push([p.userId, s]));
    const before = room.participants.get('bob')!.ssrc;
    gateway.dispatch('PARTICIPANT_JOINED', {
      room: 'lobby',
      participant: participant('bob', { muted: true, ssrc: before + 1000 }),
    });
    expect(room.participants.get('bob')!.ssrc).toBe(before + 1000);
    // Events name the new membership: the old ssrc no longer reaches bob.
    gateway.dispatch('SPEAKING', { ssrc: before, speaking: true });
    expect(speaking).toEqual([]);
    gateway.dispatch('SPEAKING', { ssrc: before + 1000, speaking: true });
    expect(speaking).toEqual([['bob', true]]);
  });

  it('emits connectionQualityChanged once per change, with the previous quality', async () => {
    const { room } = await joinedRoom();
    const seen: string[] = [];
    room.on('connectionQualityChanged', (p, q, prev) => seen.push(`${p.userId}:${prev}>${q}`));
    room.setConnectionQuality('bob', 'poor');
    room.setConnectionQuality('bob', 'poor');
    room.setConnectionQuality('me', 'excellent');
    room.setConnectionQuality('nobody', 'lost');
    expect(seen).toEqual(['bob:good>poor', 'me:good>excellent']);
    expect(room.participants.get('bob')!.connectionQuality).toBe('poor');
  });

  it('applies VOICE_STATE_UPDATE and emits voiceStateChanged only on a change', async () => {
    const { gateway, room } = await joinedRoom();
    const changes: [string, boolean, boolean][] = [];
    room.on('voiceStateChanged', (p, s) => changes.push([p.userId, s.muted, s.deafened]));
    const bob = room.participants.get('bob')!.ssrc;
    const update = (muted: boolean, deafened: boolean) =>
      gateway.dispatch('VOICE_STATE_UPDATE', { ssrc: bob, muted, deafened });
    update(true, false); // unchanged
    update(false, false);
    update(false, true);
    // An ssrc no participant of any room has: ignored.
    gateway.dispatch('VOICE_STATE_UPDATE', { ssrc: bob + 5000, muted: true, deafened: true });
    expect(changes).toEqual([
      ['bob', false, false],
      ['bob', false, true],
    ]);
    expect(room.participants.get('bob')).toMatchObject({ muted: false, deafened: true });
  });

  it('applies SPEAKING from others and emits speakingChanged on a change', async () => {
    const { gateway, room } = await joinedRoom();
    const speaking: [string, boolean][] = [];
    room.on('speakingChanged', (p, s) => speaking.push([p.userId, s]));
    const bob = room.participants.get('bob')!.ssrc;
    gateway.dispatch('SPEAKING', { ssrc: bob, speaking: true });
    gateway.dispatch('SPEAKING', { ssrc: bob, speaking: true });
    gateway.dispatch('SPEAKING', { ssrc: room.localParticipant.ssrc, speaking: true });
    gateway.dispatch('SPEAKING', { ssrc: bob, speaking: false });
    expect(speaking).toEqual([
      ['bob', true],
      ['bob', false],
    ]);
    expect(room.localParticipant.speaking).toBe(false);
  });

  it('ignores SPEAKING / VOICE_STATE_UPDATE for an unknown or departed ssrc, with a debug log', async () => {
    const { gateway, client, room } = await joinedRoom();
    const log = debugLog();
    const events = vi.fn();
    room.on('speakingChanged', events);
    room.on('voiceStateChanged', events);
    const bob = room.participants.get('bob')!;
    gateway.dispatch('PARTICIPANT_LEFT', { room: 'lobby', userId: 'bob' });
    gateway.dispatch('SPEAKING', { ssrc: bob.ssrc, speaking: true });
    gateway.dispatch('VOICE_STATE_UPDATE', { ssrc: bob.ssrc, muted: false, deafened: true });
    gateway.dispatch('SPEAKING', { ssrc: 0xffffffff, speaking: true });
    expect(events).not.toHaveBeenCalled();
    expect(bob).toMatchObject({ speaking: false, muted: true, deafened: false });
    expect(log.map((r) => r.context)).toEqual([
      { t: 'SPEAKING', ssrc: bob.ssrc },
      { t: 'VOICE_STATE_UPDATE', ssrc: bob.ssrc },
      { t: 'SPEAKING', ssrc: 0xffffffff },
    ]);
    // The connection and the room carry on.
    expect(client.state).toBe('ready');
    expect(room.state).toBe('joined');
    const carol = participant('carol');
    gateway.dispatch('PARTICIPANT_JOINED', { room: 'lobby', participant: carol });
    gateway.dispatch('SPEAKING', { ssrc: carol.ssrc, speaking: true });
    expect(events).toHaveBeenCalledTimes(1);
    expect(room.participants.get('carol')!.speaking).toBe(true);
  });

  it('setMuted sends UPDATE_VOICE_STATE and resolves after the server applied it', async () => {
    const { gateway, room } = await joinedRoom();
    const local: boolean[] = [];
    room.on('voiceStateChanged', (p, s) => p.isLocal && local.push(s.muted));
    const muting = room.setMuted(true);
    const sent = gateway.socket.lastOf(Op.UpdateVoiceState)!;
    expect(sent.d).toEqual({ req: sent.d.req, room: 'lobby', muted: true, deafened: false });
    let done = false;
    void muting.then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    gateway.dispatch('VOICE_STATE_UPDATE', {
      ssrc: room.localParticipant.ssrc,
      muted: true,
      deafened: false,
    });
    gateway.dispatch('REQUEST_ACK', { req: sent.d.req });
    await muting;
    expect(room.localParticipant.muted).toBe(true);
    expect(local).toEqual([true]);
  });

  it('setDeafened keeps the muted state', async () => {
    const { gateway, room } = await joinedRoom();
    room.localParticipant.muted = true; // as if muted earlier
    const deafening = room.setDeafened(true);
    const sent = gateway.socket.lastOf(Op.UpdateVoiceState)!;
    expect(sent.d).toMatchObject({ muted: true, deafened: true });
    gateway.dispatch('REQUEST_ACK', { req: sent.d.req });
    await deafening;
  });

  it('setMuted rejects with RequestError when the server refuses', async () => {
    const { gateway, room } = await joinedRoom();
    const muting = room.setMuted(true);
    const req = gateway.socket.lastOf(Op.UpdateVoiceState)!.d.req;
    gateway.dispatch('REQUEST_ERROR', { req, code: 'NOT_IN_ROOM', message: 'not in room' });
    await expect(muting).rejects.toBeInstanceOf(RequestError);
  });

  it('setSpeaking sends SPEAKING once per change and emits locally', async () => {
    const { gateway, room } = await joinedRoom();
    const speaking: [string, boolean][] = [];
    room.on('speakingChanged', (p, s) => speaking.push([p.userId, s]));
    room.setSpeaking(true);
    room.setSpeaking(true);
    room.setSpeaking(false);
    expect(gateway.socket.sentOf(Op.Speaking).map((m) => m.d)).toEqual([
      { room: 'lobby', speaking: true },
      { room: 'lobby', speaking: false },
    ]);
    expect(speaking).toEqual([
      ['me', true],
      ['me', false],
    ]);
  });

  it('participant.setPosition places the voice in the client audio engine; leaving clears it', async () => {
    const { gateway, client, room } = await joinedRoom();
    const calls: Array<[string, unknown]> = [];
    vi.spyOn(client.audio, 'setSourcePosition').mockImplementation((id, pos) => {
      calls.push([id, pos]);
    });
    const bob = room.participants.get('bob')!;
    bob.setPosition({ x: 3, y: -2 });
    expect(bob.position).toEqual({ x: 3, y: -2 });
    bob.setPosition({ x: 1, y: 1, z: 2 });
    bob.setPosition(null);
    expect(bob.position).toBeUndefined();
    gateway.dispatch('PARTICIPANT_LEFT', { room: 'lobby', userId: 'bob' });
    expect(calls).toEqual([
      ['bob', { x: 3, y: -2 }],
      ['bob', { x: 1, y: 1, z: 2 }],
      ['bob', undefined],
      ['bob', undefined],
    ]);
    // After leaving, a stale participant object no longer reaches the engine.
    bob.setPosition({ x: 0, y: 0 });
    expect(calls).toHaveLength(4);
  });

  it('setPosition refuses the local participant and non-finite coordinates with TypeError', async () => {
    const { room, client } = await joinedRoom();
    expect(() => room.localParticipant.setPosition({ x: 0, y: 0 })).toThrow(/setListener/);
    const bob = room.participants.get('bob')!;
    expect(() => bob.setPosition({ x: Number.NaN, y: 0 })).toThrow(TypeError);
    expect(() => bob.setPosition({ x: 0, y: 0, z: Number.POSITIVE_INFINITY })).toThrow(/z/);
    expect(() =>
      client.audio.setListener({ position: { x: 0, y: 0 }, heading: Number.NaN }),
    ).toThrow(/heading/);
    client.audio.setListener({ position: { x: 1, y: 2 }, heading: 0.5 });
    expect(client.audio.getListener()).toEqual({ position: { x: 1, y: 2 }, heading: 0.5 });
    client.audio.setListener(null);
    expect(client.audio.getListener()).toBeUndefined();
    expect(() => client.audio.setProximity({ maxDistanceM: -1 })).toThrow(RangeError);
  });

  it('rejects bad arguments with TypeError', async () => {
    const { room } = await joinedRoom();
    const bad = 'yes' as unknown as boolean;
    await expect(room.setMuted(bad)).rejects.toThrow(TypeError);
    await expect(room.setDeafened(1 as unknown as boolean)).rejects.toThrow(/deafened/);
    expect(() => room.setSpeaking(null as unknown as boolean)).toThrow(TypeError);
  });

  it('leave() sends LEAVE_ROOM, then the room is left and gone from the client', async () => {
    const { gateway, client, room } = await joinedRoom();
    const left = vi.fn();
    const states: string[] = [];
    room.on('left', left);
    room.on('stateChange', (_p, n) => states.push(n));
    const leaving = room.leave();
    const req = gateway.socket.lastOf(Op.LeaveRoom)!.d.req;
    gateway.dispatch('ROOM_LEFT', { req, room: 'lobby', reason: 'requested' });
    await leaving;
    expect(left).toHaveBeenCalledWith('requested');
    expect(states).toEqual(['left']);
    expect(client.rooms.has('lobby')).toBe(false);
    await room.leave(); // idempotent, nothing sent
    expect(gateway.socket.sentOf(Op.LeaveRoom)).toHaveLength(1);
    await expect(room.setMuted(true)).rejects.toBeInstanceOf(InvalidStateError);
    expect(() => room.setSpeaking(true)).toThrow(InvalidStateError);
  });

  it('ROOM_LEFT with req 0 (server removed us) marks the room left with its reason', async () => {
    const { gateway, client, room } = await joinedRoom();
    const left = vi.fn();
    room.on('left', left);
    gateway.dispatch('ROOM_LEFT', { req: 0, room: 'lobby', reason: 'replaced' });
    expect(left).toHaveBeenCalledWith('replaced');
    expect(room.state).toBe('left');
    expect(client.rooms.size).toBe(0);
    // Events for the room no longer reach it.
    const joined = vi.fn();
    room.on('participantJoined', joined);
    gateway.dispatch('PARTICIPANT_JOINED', { room: 'lobby', participant: participant('dave') });
    expect(joined).not.toHaveBeenCalled();
  });
});
