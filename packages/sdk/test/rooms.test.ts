// Several VoiceClients against a real gateway process: membership, voice state, speaking,
// leave and disconnect propagate to everyone in the room.
import { startGateway, type GatewayProcess } from '../../gateway/test/harness.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoiceClient, type Room } from '../src/index.js';
import { NodeWebSocket, waitFor } from './helpers.js';

describe('rooms (real gateway)', () => {
  let gw: GatewayProcess;
  const clients: VoiceClient[] = [];

  beforeAll(async () => {
    gw = await startGateway(['--insecure-dev-auth', '--batch-window-ms', '2']);
  });

  afterAll(async () => {
    for (const c of clients) await c.disconnect();
    expect(await gw.stop()).toBe(0);
  });

  async function client(user: string): Promise<VoiceClient> {
    const c = new VoiceClient({
      url: gw.url,
      token: `dev:${user}:${user}`,
      WebSocket: NodeWebSocket,
    });
    clients.push(c);
    await c.connect();
    return c;
  }

  const remoteIds = (room: Room): string[] => room.remoteParticipants.map((p) => p.userId).sort();

  it('three clients join the same room and see each other', async () => {
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(client));
    expect(alice!.user).toEqual({ id: 'alice', name: 'alice' });
    const a = await alice!.join('trio');
    const joinedOnA: string[] = [];
    a.on('participantJoined', (p) => joinedOnA.push(p.userId));
    const b = await bob!.join('trio');
    const c = await carol!.join('trio');
    expect(remoteIds(c)).toEqual(['alice', 'bob']);
    await waitFor(() => remoteIds(a).length === 2 && remoteIds(b).length === 2, 'members');
    expect(remoteIds(a)).toEqual(['bob', 'carol']);
    expect(remoteIds(b)).toEqual(['alice', 'carol']);
    expect(joinedOnA).toEqual(['bob', 'carol']);
    expect(a.localParticipant.userId).toBe('alice');
  });

  it('mute, deafen and speaking propagate to the others', async () => {
    const [alice, bob, carol] = await Promise.all(['alice2', 'bob2', 'carol2'].map(client));
    const a = await alice!.join('voice');
    const b = await bob!.join('voice');
    const c = await carol!.join('voice');
    await waitFor(() => remoteIds(a).length === 2, 'alice sees both');
    const seenByB: string[] = [];
    b.on('voiceStateChanged', (p, s) => seenByB.push(`${p.userId}:${s.muted}:${s.deafened}`));
    await a.setMuted(true);
    // setMuted resolves once the server applied it: the requester's own view is already updated.
    expect(a.localParticipant.muted).toBe(true);
    await waitFor(() => b.participants.get('alice2')?.muted === true, 'bob sees alice muted');
    await waitFor(() => c.participants.get('alice2')?.muted === true, 'carol sees alice muted');
    await a.setDeafened(true);
    await a.setMuted(false);
    await waitFor(() => seenByB.length === 3, 'three voice-state changes on bob');
    expect(seenByB).toEqual(['alice2:true:false', 'alice2:true:true', 'alice2:false:true']);

    const speaking: string[] = [];
    c.on('speakingChanged', (p, s) => speaking.push(`${p.userId}:${s}`));
    b.setSpeaking(true);
    b.setSpeaking(false);
    await waitFor(() => speaking.length === 2, 'carol sees bob speak');
    expect(speaking).toEqual(['bob2:true', 'bob2:false']);
  });

  it('leave and disconnect propagate as participantLeft', async () => {
    const [alice, bob, carol] = await Promise.all(['alice3', 'bob3', 'carol3'].map(client));
    const a = await alice!.join('exit');
    const b = await bob!.join('exit');
    await carol!.join('exit');
    await waitFor(() => remoteIds(a).length === 2, 'alice sees both');
    const leftOnA: string[] = [];
    a.on('participantLeft', (p) => leftOnA.push(p.userId));

    const bobLeft: string[] = [];
    b.on('left', (reason) => bobLeft.push(reason));
    await b.leave();
    expect(b.state).toBe('left');
    expect(bobLeft).toEqual(['requested']);
    expect(bob!.rooms.has('exit')).toBe(false);
    await waitFor(() => leftOnA.length === 1, 'alice sees bob leave');

    await carol!.disconnect();
    expect(carol!.state).toBe('closed');
    await waitFor(() => leftOnA.length === 2, 'alice sees carol disconnect');
    expect(leftOnA).toEqual(['bob3', 'carol3']);
    expect(remoteIds(a)).toEqual([]);
  });

  it('the same user joining from a second client replaces the first in the room', async () => {
    const first = await client('dup');
    const watcher = await client('dup-watcher');
    const r1 = await first.join('dup-room');
    const w = await watcher.join('dup-room');
    await waitFor(() => remoteIds(w).length === 1, 'watcher sees dup');
    const left: string[] = [];
    r1.on('left', (reason) => left.push(reason));
    const seenByWatcher: string[] = [];
    w.on('participantLeft', (p) => seenByWatcher.push(`left:${p.userId}`));
    w.on('participantJoined', (p) => seenByWatcher.push(`joined:${p.userId}`));
    const second = await client('dup');
    await second.join('dup-room');
    await waitFor(() => left.length === 1, 'first client removed');
    expect(left).toEqual(['replaced']);
    expect(first.rooms.has('dup-room')).toBe(false);
    await waitFor(() => seenByWatcher.length === 2, 'watcher sees the swap');
    expect(seenByWatcher).toEqual(['left:dup', 'joined:dup']);
    expect(remoteIds(w)).toEqual(['dup']);
  });
});
