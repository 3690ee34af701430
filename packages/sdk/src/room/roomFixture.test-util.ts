// Shared setup for Room and VoiceClient unit tests: a VoiceClient on a FakeGateway, connected
// and (optionally) joined to a room. Imports nothing from the test runner.
import { Op, type Participant as WireParticipant } from '@concord/protocol';
import { FakeGateway, participant } from '../connection/FakeWebSocket.test-util.js';
import type { GatewayConnectionOptions } from '../connection/GatewayConnection.js';
import { VoiceClient } from '../VoiceClient.js';
import type { Room } from './Room.js';

export const URL = 'ws://gateway.test/gateway';
export const ME = { id: 'me', name: 'Me' };

/**
 * Lets pending promise callbacks run (e.g. IDENTIFY goes out after an awaited token). Needs no
 * timers, so it works under fake timers; this file imports nothing from the test runner.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A VoiceClient connected to a fake gateway as user `me`. */
export async function connectedClient(options: Partial<GatewayConnectionOptions> = {}) {
  const gateway = new FakeGateway();
  const client = new VoiceClient({
    url: URL,
    token: 'dev:me:Me',
    WebSocket: gateway.WebSocket,
    batchWindowMs: 0,
    random: () => 0.5,
    ...options,
  });
  const connected = client.connect();
  gateway.socket.hello(30_000);
  await settle();
  gateway.socket.ready('session-1', ME);
  await connected;
  return { gateway, client };
}

/** Answers the newest JOIN_ROOM for `room` with `participants`. */
export function answerJoin(gateway: FakeGateway, room: string, participants: WireParticipant[]) {
  const join = gateway.socket.lastOf(Op.JoinRoom);
  if (join?.d.room !== room) throw new Error(`expected JOIN_ROOM for ${room}, got ${join?.d.room}`);
  gateway.dispatch('ROOM_JOINED', { req: join.d.req, room, participants });
}

/** A connected client in room `lobby` with `me` and a muted `bob`. */
export async function joinedRoom(options: Partial<GatewayConnectionOptions> = {}) {
  const { gateway, client } = await connectedClient(options);
  const joining = client.join('lobby');
  answerJoin(gateway, 'lobby', [participant('me'), participant('bob', { muted: true })]);
  const room: Room = await joining;
  return { gateway, client, room };
}
