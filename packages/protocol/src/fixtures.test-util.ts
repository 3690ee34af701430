// One sample of every message type, shared by the codec tests and the fuzz corpus.
import { Op, type Message, type Participant } from './messages.js';

export const alice: Participant = {
  userId: 'u-alice',
  name: 'Alice',
  muted: false,
  deafened: false,
  speaking: true,
  ssrc: 0x1a2b3c4d,
  webrtc: false,
};
export const bob: Participant = {
  userId: 'u-bob',
  name: 'Bob',
  muted: true,
  deafened: false,
  speaking: false,
  ssrc: 7,
  webrtc: true,
};

export const SAMPLE_MESSAGES: Message[] = [
  {
    op: Op.Hello,
    d: {
      protocolVersion: 1,
      heartbeatIntervalMs: 30_000,
      limits: {
        maxFrameBytes: 262144,
        maxDecompressedBytes: 1048576,
        maxMessagesPerBatch: 256,
        maxStringBytes: 4096,
        maxArrayLength: 10000,
        maxDepth: 8,
      },
      rateLimit: { messages: 120, windowMs: 60_000 },
      maxRoomsPerSession: 4,
    },
  },
  {
    op: Op.Identify,
    d: {
      protocolVersion: 1,
      token: 'header.payload.signature',
      capabilities: { transports: ['ws'], codecs: ['opus'], client: 'concord-sdk/0.1.0' },
    },
  },
  {
    op: Op.Ready,
    d: {
      sessionId: 's-1234',
      user: { id: 'u-alice', name: 'Alice' },
      resumeWindowMs: 60_000,
      resumeSecret: 'r-secret',
      tokenExpiresInMs: 3_600_000,
    },
  },
  { op: Op.Heartbeat, d: { nonce: 7, seq: 300 } },
  { op: Op.HeartbeatAck, d: { nonce: 7 } },
  {
    op: Op.Resume,
    d: { protocolVersion: 1, sessionId: 's-1234', token: 'tok', seq: 41, resumeSecret: 'r-secret' },
  },
  { op: Op.Resumed, d: { replayed: 3, tokenExpiresInMs: 60_000, lastReq: 12 } },
  { op: Op.Reconnect, d: { reason: 'draining' } },
  { op: Op.InvalidSession, d: { resumable: false } },
  { op: Op.JoinRoom, d: { req: 1, room: 'lobby' } },
  { op: Op.LeaveRoom, d: { req: 2, room: 'lobby' } },
  { op: Op.UpdateVoiceState, d: { req: 3, room: 'lobby', muted: true, deafened: false } },
  { op: Op.Speaking, d: { room: 'lobby', speaking: true } },
  {
    op: Op.ReceiverReport,
    d: {
      room: 'lobby',
      reports: [
        { ssrc: 7, fractionLost: 13, jitterMs: 4, lostTotal: 21 },
        { ssrc: 0xffffffff, fractionLost: 255, jitterMs: 0, lostTotal: 0 },
      ],
    },
  },
  { op: Op.RefreshToken, d: { req: 5, token: 'header.payload.signature' } },
  { op: Op.SetMediaPath, d: { req: 6, room: 'lobby', path: 'webrtc' } },
  {
    op: Op.WebRtcConnect,
    d: { req: 7, room: 'lobby', transportId: 't-1', dtlsParameters: '{"role":"client"}' },
  },
  {
    op: Op.WebRtcProduce,
    d: { req: 8, room: 'lobby', transportId: 't-1', rtpParameters: '{"codecs":[]}' },
  },
  { op: Op.WebRtcConsume, d: { req: 9, room: 'lobby', rtpCapabilities: '{"codecs":[]}' } },
  { op: Op.WebRtcResume, d: { room: 'lobby', consumerId: 'c-1' } },
  {
    op: Op.Dispatch,
    seq: 1,
    t: 'ROOM_JOINED',
    d: { req: 1, room: 'lobby', participants: [alice, bob] },
  },
  { op: Op.Dispatch, seq: 2, t: 'ROOM_LEFT', d: { req: 2, room: 'lobby', reason: 'requested' } },
  { op: Op.Dispatch, seq: 3, t: 'PARTICIPANT_JOINED', d: { room: 'lobby', participant: bob } },
  { op: Op.Dispatch, seq: 4, t: 'PARTICIPANT_LEFT', d: { room: 'lobby', userId: 'u-bob' } },
  {
    op: Op.Dispatch,
    seq: 200,
    t: 'VOICE_STATE_UPDATE',
    d: { ssrc: 7, muted: true, deafened: true },
  },
  {
    op: Op.Dispatch,
    seq: 70000,
    t: 'SPEAKING',
    d: { ssrc: 0x1a2b3c4d, speaking: true },
  },
  { op: Op.Dispatch, seq: 2 ** 40, t: 'REQUEST_ACK', d: { req: 3 } },
  {
    op: Op.Dispatch,
    seq: 9,
    t: 'REQUEST_ERROR',
    d: { req: 4, code: 'NOT_IN_ROOM', message: 'not in room lobby' },
  },
  {
    op: Op.Dispatch,
    seq: 10,
    t: 'RECEIVER_REPORT',
    d: {
      room: 'lobby',
      fromUserId: 'u-bob',
      ssrc: 0x1a2b3c4d,
      fractionLost: 5,
      jitterMs: 12,
      lostTotal: 3,
    },
  },
  { op: Op.Dispatch, seq: 11, t: 'TOKEN_REFRESHED', d: { req: 5, tokenExpiresInMs: 0 } },
  {
    op: Op.Dispatch,
    seq: 12,
    t: 'ROOM_PARTICIPANTS',
    d: { room: 'lobby', participants: [alice] },
  },
  {
    op: Op.Dispatch,
    seq: 13,
    t: 'WEBRTC_TRANSPORTS',
    d: {
      req: 6,
      room: 'lobby',
      rtpCapabilities: '{"codecs":[]}',
      sendTransport: '{"id":"t-1"}',
      recvTransport: '{"id":"t-2"}',
    },
  },
  {
    op: Op.Dispatch,
    seq: 14,
    t: 'WEBRTC_PRODUCED',
    d: { req: 8, room: 'lobby', producerId: 'p-1' },
  },
  {
    op: Op.Dispatch,
    seq: 15,
    t: 'WEBRTC_CONSUMER',
    d: { room: 'lobby', consumerId: 'c-1', producerId: 'p-2', ssrc: 7, rtpParameters: '{}' },
  },
  {
    op: Op.Dispatch,
    seq: 16,
    t: 'WEBRTC_CONSUMER_CLOSED',
    d: { room: 'lobby', consumerId: 'c-1' },
  },
  { op: Op.Dispatch, seq: 17, t: 'WEBRTC_RESET', d: { room: 'lobby', reason: 'worker restarted' } },
  { op: Op.Dispatch, seq: 18, t: 'MEDIA_PATH_UPDATE', d: { ssrc: 7, webrtc: true } },
];
