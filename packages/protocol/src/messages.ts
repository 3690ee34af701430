// Every Concord control message: opcodes, payload schemas and the types inferred from them.
import {
  array,
  bool,
  object,
  str,
  uint,
  uintMax,
  type Infer,
  type ObjectSchema,
} from './schema.js';

/**
 * Opcodes of control messages. Direction: S→C server to client, C→S client to server.
 */
export const Op = {
  /** S→C, first message: heartbeat interval and limits. */
  Hello: 0,
  /** C→S: authenticate with a token and announce capabilities. */
  Identify: 1,
  /** S→C: the session is established. */
  Ready: 2,
  /** C→S: liveness beat carrying a nonce and the last seen dispatch seq. */
  Heartbeat: 3,
  /** S→C: echoes the heartbeat's nonce (for RTT). */
  HeartbeatAck: 4,
  /** C→S: resume a session after a disconnect. */
  Resume: 5,
  /** S→C: every missed dispatch has been replayed. */
  Resumed: 6,
  /** S→C: reconnect and resume (e.g. the server is draining). */
  Reconnect: 7,
  /** S→C: the session cannot be resumed (or can, if `resumable`); identify again. */
  InvalidSession: 8,
  /** S→C: a server event with a strictly increasing per-session `seq`. */
  Dispatch: 9,
  /** C→S: join a room. */
  JoinRoom: 10,
  /** C→S: leave a room. */
  LeaveRoom: 11,
  /** C→S: set muted/deafened in a room. */
  UpdateVoiceState: 12,
  /** C→S: start/stop speaking in a room. */
  Speaking: 13,
  /** C→S: reception statistics per sender (like RTCP receiver reports, RFC 3550 §6.4.2). */
  ReceiverReport: 14,
  /**
   * C→S: replace the session's token before it expires (same user); answered with
   * TOKEN_REFRESHED or REQUEST_ERROR. The new token's room grants apply at once.
   */
  RefreshToken: 15,
  /**
   * C→S: carry this membership's media over `webrtc` (the SFU) or `websocket` (the relay).
   * `webrtc` is answered with WEBRTC_TRANSPORTS (or REQUEST_ERROR `WEBRTC_UNAVAILABLE`),
   * `websocket` with REQUEST_ACK.
   */
  SetMediaPath: 16,
  /** C→S: connect one of this membership's WebRTC transports (DTLS); REQUEST_ACK. */
  WebRtcConnect: 17,
  /** C→S: produce this membership's audio on its send transport; WEBRTC_PRODUCED. */
  WebRtcProduce: 18,
  /**
   * C→S: consume the room's audio with these RTP capabilities, now and as producers appear:
   * REQUEST_ACK, then one WEBRTC_CONSUMER per producer.
   */
  WebRtcConsume: 19,
  /** C→S: a consumer's client side is ready: start forwarding it (no reply). */
  WebRtcResume: 20,
} as const;

/** A control-message opcode. */
export type Op = (typeof Op)[keyof typeof Op];

// Room names and user ids are short identifiers; display names are bounded too.
const roomName = str(128);
const userId = str(128);
const displayName = str(64);
/** A media stream id (u32, see media.ts). */
const ssrc = uintMax(0xffffffff);
/** RTCP's fraction lost: lost / expected since the last report, in 1/256 (RFC 3550 §6.4.1). */
const fractionLost = uintMax(255);
/** Most sender reports in one RECEIVER_REPORT. */
export const MAX_RECEIVER_REPORTS = 64;
/**
 * A JSON document of mediasoup parameters (RTP capabilities and parameters, DTLS and ICE
 * parameters), at most 4,096 bytes: the SFU validates the content, the schema only its size.
 */
const json = str(4096);
/** A media path: `webrtc` or `websocket`. */
const mediaPath = str(16);
/** A mediasoup object id (transport, producer, consumer). */
const sfuId = str(64);

const participant = object(
  ['userId', userId],
  ['name', displayName],
  ['muted', bool],
  ['deafened', bool],
  ['speaking', bool],
  // Appended in protocol 1 with the media path: the member's media stream id in this room.
  ['ssrc', ssrc],
  // Protocol 3: whether the member's media goes over WebRTC (else the WebSocket relay).
  ['webrtc', bool],
);

const receiverReport = object(
  ['ssrc', ssrc],
  ['fractionLost', fractionLost],
  ['jitterMs', uint],
  ['lostTotal', uint],
);

const limits = object(
  ['maxFrameBytes', uint],
  ['maxDecompressedBytes', uint],
  ['maxMessagesPerBatch', uint],
  ['maxStringBytes', uint],
  ['maxArrayLength', uint],
  ['maxDepth', uint],
);

/** Payload schema of every non-dispatch opcode. */
export const PayloadSchemas = {
  [Op.Hello]: object(
    ['protocolVersion', uint],
    ['heartbeatIntervalMs', uint],
    ['limits', limits],
    ['rateLimit', object(['messages', uint], ['windowMs', uint])],
    ['maxRoomsPerSession', uint],
  ),
  [Op.Identify]: object(
    ['protocolVersion', uint],
    ['token', str()],
    [
      'capabilities',
      object(['transports', array(str(32))], ['codecs', array(str(32))], ['client', str(64)]),
    ],
  ),
  [Op.Ready]: object(
    ['sessionId', str(64)],
    ['user', object(['id', userId], ['name', displayName])],
    ['resumeWindowMs', uint],
    // Protocol 3: the secret RESUME must present (only this client learns it), and the token's
    // remaining lifetime in ms (0 = it never expires), so the client can refresh in time.
    ['resumeSecret', str(64)],
    ['tokenExpiresInMs', uint],
  ),
  [Op.Heartbeat]: object(['nonce', uint], ['seq', uint]),
  [Op.HeartbeatAck]: object(['nonce', uint]),
  [Op.Resume]: object(
    ['protocolVersion', uint],
    ['sessionId', str(64)],
    ['token', str()],
    ['seq', uint],
    ['resumeSecret', str(64)],
  ),
  // Protocol 3: the lifetime left of the token the RESUME presented (0 = never expires).
  [Op.Resumed]: object(
    ['replayed', uint],
    ['tokenExpiresInMs', uint],
    // The highest request id the server took up for handling; the client sends later ones again.
    ['lastReq', uint],
  ),
  [Op.Reconnect]: object(['reason', str(256)]),
  [Op.InvalidSession]: object(['resumable', bool]),
  [Op.JoinRoom]: object(['req', uint], ['room', roomName]),
  [Op.LeaveRoom]: object(['req', uint], ['room', roomName]),
  [Op.UpdateVoiceState]: object(
    ['req', uint],
    ['room', roomName],
    ['muted', bool],
    ['deafened', bool],
  ),
  [Op.Speaking]: object(['room', roomName], ['speaking', bool]),
  [Op.ReceiverReport]: object(
    ['room', roomName],
    ['reports', array(receiverReport, MAX_RECEIVER_REPORTS)],
  ),
  [Op.RefreshToken]: object(['req', uint], ['token', str()]),
  [Op.SetMediaPath]: object(['req', uint], ['room', roomName], ['path', mediaPath]),
  [Op.WebRtcConnect]: object(
    ['req', uint],
    ['room', roomName],
    ['transportId', sfuId],
    ['dtlsParameters', json],
  ),
  [Op.WebRtcProduce]: object(
    ['req', uint],
    ['room', roomName],
    ['transportId', sfuId],
    ['rtpParameters', json],
  ),
  [Op.WebRtcConsume]: object(['req', uint], ['room', roomName], ['rtpCapabilities', json]),
  [Op.WebRtcResume]: object(['room', roomName], ['consumerId', sfuId]),
} as const satisfies Record<Exclude<Op, typeof Op.Dispatch>, ObjectSchema>;

/**
 * Dispatch events (server → client), each with a stable numeric code used on the wire.
 * Codes are append-only: never reuse or renumber one.
 */
export const EventSchemas = {
  /**
   * Reply to JOIN_ROOM: the room and everyone in it (the joiner included). In a large room the
   * list comes in pages: ROOM_PARTICIPANTS events first, then ROOM_JOINED with the last page;
   * the members are the union of them all, in order.
   */
  ROOM_JOINED: object(['req', uint], ['room', roomName], ['participants', array(participant)]),
  /** Reply to LEAVE_ROOM (`req` > 0), or the server removed this session (`req` = 0). */
  ROOM_LEFT: object(['req', uint], ['room', roomName], ['reason', str(64)]),
  /** Someone joined a room this session is in. */
  PARTICIPANT_JOINED: object(['room', roomName], ['participant', participant]),
  /** Someone left a room this session is in. */
  PARTICIPANT_LEFT: object(['room', roomName], ['userId', userId]),
  /**
   * Someone's muted/deafened state changed (the requester's own included). The member is
   * named by its `ssrc`, unique per room membership (see the participants of ROOM_JOINED /
   * PARTICIPANT_JOINED), which also identifies the room.
   */
  VOICE_STATE_UPDATE: object(['ssrc', ssrc], ['muted', bool], ['deafened', bool]),
  /**
   * Someone started or stopped speaking. The member is named by its `ssrc`, unique per room
   * membership (see the participants of ROOM_JOINED / PARTICIPANT_JOINED), which also
   * identifies the room; like the SPEAKING of Discord's voice gateway.
   */
  SPEAKING: object(['ssrc', ssrc], ['speaking', bool]),
  /** A request succeeded and has no other reply. */
  REQUEST_ACK: object(['req', uint]),
  /** A request failed without ending the connection. */
  REQUEST_ERROR: object(['req', uint], ['code', str(64)], ['message', str(256)]),
  /**
   * A listener's reception statistics for one of this session's streams (`ssrc`), relayed
   * from RECEIVER_REPORT; sent only to the stream's sender. `fromUserId` empty: the SFU's own
   * measurement of a WebRTC sender's stream as it arrives (every second while it sends).
   */
  RECEIVER_REPORT: object(
    ['room', roomName],
    ['fromUserId', userId],
    ['ssrc', ssrc],
    ['fractionLost', fractionLost],
    ['jitterMs', uint],
    ['lostTotal', uint],
  ),
  /** Reply to REFRESH_TOKEN: the new token's remaining lifetime in ms (0 = never expires). */
  TOKEN_REFRESHED: object(['req', uint], ['tokenExpiresInMs', uint]),
  /**
   * One page of a large room's member list, sent just before the ROOM_JOINED that completes it
   * (which carries the last page), so no frame outgrows the frame limit.
   */
  ROOM_PARTICIPANTS: object(['room', roomName], ['participants', array(participant)]),
  /**
   * Reply to SET_MEDIA_PATH `webrtc`: the SFU's RTP capabilities and this membership's send
   * and receive transports (mediasoup parameters, JSON).
   */
  WEBRTC_TRANSPORTS: object(
    ['req', uint],
    ['room', roomName],
    ['rtpCapabilities', json],
    ['sendTransport', json],
    ['recvTransport', json],
  ),
  /** Reply to WEBRTC_PRODUCE. */
  WEBRTC_PRODUCED: object(['req', uint], ['room', roomName], ['producerId', sfuId]),
  /**
   * A consumer for this membership of the producer of member `ssrc` (created paused: resume it
   * with WEBRTC_RESUME once its client side exists).
   */
  WEBRTC_CONSUMER: object(
    ['room', roomName],
    ['consumerId', sfuId],
    ['producerId', sfuId],
    ['ssrc', ssrc],
    ['rtpParameters', json],
  ),
  /** A consumer of this membership closed (its producer left or changed path). */
  WEBRTC_CONSUMER_CLOSED: object(['room', roomName], ['consumerId', sfuId]),
  /**
   * This membership's WebRTC transports, producer and consumers are gone (the SFU worker
   * restarted): set the path up again (SET_MEDIA_PATH `webrtc`), or fall back to the WebSocket.
   */
  WEBRTC_RESET: object(['room', roomName], ['reason', str(64)]),
  /** A member's media path changed (the member itself included). */
  MEDIA_PATH_UPDATE: object(['ssrc', ssrc], ['webrtc', bool]),
} as const;

/** Name of a dispatch event. */
export type EventName = keyof typeof EventSchemas;

/** Wire codes of dispatch events (append-only). */
export const EventCodes: Readonly<Record<EventName, number>> = Object.freeze({
  ROOM_JOINED: 0,
  ROOM_LEFT: 1,
  PARTICIPANT_JOINED: 2,
  PARTICIPANT_LEFT: 3,
  VOICE_STATE_UPDATE: 4,
  SPEAKING: 5,
  REQUEST_ACK: 6,
  REQUEST_ERROR: 7,
  RECEIVER_REPORT: 8,
  TOKEN_REFRESHED: 9,
  ROOM_PARTICIPANTS: 10,
  WEBRTC_TRANSPORTS: 11,
  WEBRTC_PRODUCED: 12,
  WEBRTC_CONSUMER: 13,
  WEBRTC_CONSUMER_CLOSED: 14,
  WEBRTC_RESET: 15,
  MEDIA_PATH_UPDATE: 16,
});

/** Event names by wire code. */
export const EventNamesByCode: readonly EventName[] = (Object.keys(EventCodes) as EventName[]).sort(
  (a, b) => EventCodes[a] - EventCodes[b],
);

/** Payload of each dispatch event. */
export type DispatchEvents = { [K in EventName]: Infer<(typeof EventSchemas)[K]> };

/** A participant of a room as the wire describes it. */
export type Participant = Infer<typeof participant>;
/** Limits a server announces in HELLO. */
export type HelloLimits = Infer<typeof limits>;

type Payloads = typeof PayloadSchemas;
type PayloadOf<O extends keyof Payloads> = Infer<Payloads[O]>;

/** HELLO: heartbeat interval in ms, limits, control rate limit. */
export type HelloMessage = { op: typeof Op.Hello; d: PayloadOf<typeof Op.Hello> };
/** IDENTIFY: token and capabilities. */
export type IdentifyMessage = { op: typeof Op.Identify; d: PayloadOf<typeof Op.Identify> };
/** READY: session id, user, resume window in ms. */
export type ReadyMessage = { op: typeof Op.Ready; d: PayloadOf<typeof Op.Ready> };
/** HEARTBEAT: nonce and last seen seq. */
export type HeartbeatMessage = { op: typeof Op.Heartbeat; d: PayloadOf<typeof Op.Heartbeat> };
/** HEARTBEAT_ACK: echoed nonce. */
export type HeartbeatAckMessage = {
  op: typeof Op.HeartbeatAck;
  d: PayloadOf<typeof Op.HeartbeatAck>;
};
/** RESUME: session id, token and last seen seq. */
export type ResumeMessage = { op: typeof Op.Resume; d: PayloadOf<typeof Op.Resume> };
/** RESUMED: how many events were replayed, token expiry, highest request id handled. */
export type ResumedMessage = { op: typeof Op.Resumed; d: PayloadOf<typeof Op.Resumed> };
/** RECONNECT: the server asks for a reconnect + resume. */
export type ReconnectMessage = { op: typeof Op.Reconnect; d: PayloadOf<typeof Op.Reconnect> };
/** INVALID_SESSION: identify again (after a delay when `resumable`). */
export type InvalidSessionMessage = {
  op: typeof Op.InvalidSession;
  d: PayloadOf<typeof Op.InvalidSession>;
};
/** JOIN_ROOM request. */
export type JoinRoomMessage = { op: typeof Op.JoinRoom; d: PayloadOf<typeof Op.JoinRoom> };
/** LEAVE_ROOM request. */
export type LeaveRoomMessage = { op: typeof Op.LeaveRoom; d: PayloadOf<typeof Op.LeaveRoom> };
/** UPDATE_VOICE_STATE request. */
export type UpdateVoiceStateMessage = {
  op: typeof Op.UpdateVoiceState;
  d: PayloadOf<typeof Op.UpdateVoiceState>;
};
/** SPEAKING update. */
export type SpeakingMessage = { op: typeof Op.Speaking; d: PayloadOf<typeof Op.Speaking> };
/** RECEIVER_REPORT: loss and jitter per sender stream. */
export type ReceiverReportMessage = {
  op: typeof Op.ReceiverReport;
  d: PayloadOf<typeof Op.ReceiverReport>;
};
/** REFRESH_TOKEN: a fresh token for the same user. */
export type RefreshTokenMessage = {
  op: typeof Op.RefreshToken;
  d: PayloadOf<typeof Op.RefreshToken>;
};
/** SET_MEDIA_PATH: carry a membership's media over WebRTC or the WebSocket. */
export type SetMediaPathMessage = {
  op: typeof Op.SetMediaPath;
  d: PayloadOf<typeof Op.SetMediaPath>;
};
/** WEBRTC_CONNECT: DTLS parameters of a transport. */
export type WebRtcConnectMessage = {
  op: typeof Op.WebRtcConnect;
  d: PayloadOf<typeof Op.WebRtcConnect>;
};
/** WEBRTC_PRODUCE: RTP parameters of the membership's audio. */
export type WebRtcProduceMessage = {
  op: typeof Op.WebRtcProduce;
  d: PayloadOf<typeof Op.WebRtcProduce>;
};
/** WEBRTC_CONSUME: the client's RTP capabilities; consume the room. */
export type WebRtcConsumeMessage = {
  op: typeof Op.WebRtcConsume;
  d: PayloadOf<typeof Op.WebRtcConsume>;
};
/** WEBRTC_RESUME: a consumer's client side is ready. */
export type WebRtcResumeMessage = {
  op: typeof Op.WebRtcResume;
  d: PayloadOf<typeof Op.WebRtcResume>;
};
/** One sender's entry of a RECEIVER_REPORT. */
export type ReceiverReport = Infer<typeof receiverReport>;

/** DISPATCH: one server event; `seq` strictly increases per session. */
export type DispatchMessage = {
  [K in EventName]: { op: typeof Op.Dispatch; seq: number; t: K; d: DispatchEvents[K] };
}[EventName];

/** Any message a client sends. */
export type ClientMessage =
  | IdentifyMessage
  | HeartbeatMessage
  | ResumeMessage
  | JoinRoomMessage
  | LeaveRoomMessage
  | UpdateVoiceStateMessage
  | SpeakingMessage
  | ReceiverReportMessage
  | RefreshTokenMessage
  | SetMediaPathMessage
  | WebRtcConnectMessage
  | WebRtcProduceMessage
  | WebRtcConsumeMessage
  | WebRtcResumeMessage;

/** Any message a server sends. */
export type ServerMessage =
  | HelloMessage
  | ReadyMessage
  | HeartbeatAckMessage
  | ResumedMessage
  | ReconnectMessage
  | InvalidSessionMessage
  | DispatchMessage;

/** Any control message. */
export type Message = ClientMessage | ServerMessage;

/** Opcodes a client may send. */
export const CLIENT_OPS: ReadonlySet<number> = new Set<number>([
  Op.Identify,
  Op.Heartbeat,
  Op.Resume,
  Op.JoinRoom,
  Op.LeaveRoom,
  Op.UpdateVoiceState,
  Op.Speaking,
  Op.ReceiverReport,
  Op.RefreshToken,
  Op.SetMediaPath,
  Op.WebRtcConnect,
  Op.WebRtcProduce,
  Op.WebRtcConsume,
  Op.WebRtcResume,
]);

/** The media paths of SET_MEDIA_PATH. */
export const MEDIA_PATHS = ['webrtc', 'websocket'] as const;
/** A media path. */
export type MediaPathName = (typeof MEDIA_PATHS)[number];

/** Opcodes a client may send before its session is established (one of them, once). */
export const PRE_AUTH_OPS: ReadonlySet<number> = new Set<number>([Op.Identify, Op.Resume]);
