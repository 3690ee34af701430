// Frame layout of control traffic (media frames have their own layout, see media.ts):
//
//   byte 0      header: bits 7–6 frame type (0 control, 1 media: see media.ts, 2–3 reserved)
//                       bit 1 batch (payload is an array of messages)
//                       bit 0 LZ4 (payload is an LZ4 block)
//                       bits 5–2 reserved, must be 0
//   [LZ4 only]  u32 little-endian decompressed length, then the LZ4 block
//   payload     MessagePack: one message, or an array of messages when batched
//
// A message is a MessagePack array: [op, ...payload fields] or, for DISPATCH,
// [9, seq, eventCode, ...event fields]. Field order comes from the schemas in messages.ts.
import { Packr, Unpackr } from 'msgpackr';
import {
  DEFAULT_COMPRESSION_THRESHOLD_BYTES,
  resolveLimits,
  type ProtocolLimits,
} from './limits.js';
import { lz4CompressBlock, lz4DecompressBlock } from './lz4.js';
import {
  CLIENT_OPS,
  EventCodes,
  EventNamesByCode,
  EventSchemas,
  Op,
  PayloadSchemas,
  type ClientMessage,
  type DispatchEvents,
  type EventName,
  type Message,
  type ServerMessage,
} from './messages.js';
import { scanMsgpack } from './msgpackScan.js';
import { ProtocolError } from './ProtocolError.js';
import { fromWireRecord, toWire, type ObjectSchema } from './schema.js';

/** Frame types (header bits 7–6). */
export const FrameType = {
  /** MessagePack control messages. */
  Control: 0,
  /** Binary media frames (layout defined by the media transport; bypasses MessagePack). */
  Media: 1,
} as const;
/** A frame type. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Header flag: the payload is an LZ4 block preceded by its decompressed length. */
export const FLAG_LZ4 = 0x01;
/** Header flag: the payload is an array of messages. */
export const FLAG_BATCH = 0x02;
const RESERVED_BITS = 0x3c;

/** Options of a {@link FrameCodec}. */
export interface FrameCodecOptions {
  /** Limits enforced when decoding (and when encoding, on frame size). */
  limits?: Partial<ProtocolLimits>;
  /** Payloads of at least this many bytes are LZ4-compressed when that shrinks them. 0 = never. */
  compressionThresholdBytes?: number;
  /**
   * Whether {@link FrameCodec.decode} accepts LZ4 frames (default true). A gateway decodes
   * client frames with `false`: clients never compress, so no client byte is expanded.
   */
  acceptCompressed?: boolean;
}

/** A dispatch event encoded once, then stamped with each recipient's seq. */
export interface EncodedEvent {
  /** Wire code of the event. */
  readonly code: number;
  /** Number of payload fields. */
  readonly fieldCount: number;
  /** The payload fields' MessagePack bytes, concatenated. */
  readonly body: Uint8Array;
}

/** Frame type of a received frame, read from its header. Empty frames read as control. */
export function frameTypeOf(frame: Uint8Array): number {
  return frame.length === 0 ? FrameType.Control : frame[0]! >> 6;
}

/**
 * Encodes and decodes Concord control frames. Stateless between frames (safe for resume
 * replay); one instance per process side is enough. Runs on whichever thread calls it.
 */
export class FrameCodec {
  /** The limits this codec enforces. */
  readonly limits: Readonly<ProtocolLimits>;
  /** Compression threshold in bytes (0 = never compress). */
  readonly compressionThresholdBytes: number;
  /** Whether LZ4 frames are decoded (false: refused with `INVALID_FRAME`). */
  readonly acceptCompressed: boolean;
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true });
  private readonly unpackr = new Unpackr({
    useRecords: false,
    mapsAsObjects: true,
    int64AsType: 'number',
  });

  /** @throws {RangeError} for a non-positive limit or a negative threshold. */
  constructor(options: FrameCodecOptions = {}) {
    this.limits = Object.freeze(resolveLimits(options.limits));
    const threshold = options.compressionThresholdBytes ?? DEFAULT_COMPRESSION_THRESHOLD_BYTES;
    if (!Number.isInteger(threshold) || threshold < 0) {
      throw new RangeError(`compressionThresholdBytes must be an integer >= 0, got ${threshold}`);
    }
    this.compressionThresholdBytes = threshold;
    this.acceptCompressed = options.acceptCompressed ?? true;
  }

  /** MessagePack bytes of one message (not yet a frame; see {@link frame}). */
  encodeMessage(message: Message): Uint8Array {
    if (message.op === Op.Dispatch) {
      return this.encodeDispatch(message.seq, this.encodeEvent(message.t, message.d));
    }
    const schema = PayloadSchemas[message.op] as ObjectSchema;
    const fields = toWire(schema, message.d) as unknown[];
    return this.pack([message.op, ...fields]);
  }

  /** Encodes a dispatch event's payload once, for stamping into many sessions' streams. */
  encodeEvent<K extends EventName>(t: K, d: DispatchEvents[K]): EncodedEvent {
    const schema = EventSchemas[t] as ObjectSchema;
    const packed = this.pack(toWire(schema, d));
    // Every event has fewer than 16 fields, so the array header is the single fixarray byte.
    return { code: EventCodes[t], fieldCount: schema.fields.length, body: packed.subarray(1) };
  }

  /** The MessagePack bytes of DISPATCH `[9, seq, code, ...fields]` for one session. */
  encodeDispatch(seq: number, event: EncodedEvent): Uint8Array {
    const out = new Uint8Array(1 + 1 + uintSize(seq) + uintSize(event.code) + event.body.length);
    out[0] = 0x90 | (3 + event.fieldCount);
    out[1] = Op.Dispatch;
    let at = writeUint(out, 2, seq);
    at = writeUint(out, at, event.code);
    out.set(event.body, at);
    return out;
  }

  /**
   * Wraps encoded messages into one frame: batched when there is more than one, LZ4-compressed
   * when the payload reaches the threshold and compression shrinks it.
   * @throws {ProtocolError} `FRAME_TOO_LARGE` / `LIMIT_EXCEEDED` when the frame would break
   * the limits (a sender bug: split the batch).
   */
  frame(messages: readonly Uint8Array[]): Uint8Array {
    if (messages.length === 0) throw new RangeError('messages must not be empty');
    if (messages.length > this.limits.maxMessagesPerBatch) {
      throw ProtocolError.limitExceeded(
        'batch size',
        messages.length,
        this.limits.maxMessagesPerBatch,
      );
    }
    const batch = messages.length > 1;
    let payloadLength = batch ? arrayHeaderSize(messages.length) : 0;
    for (const m of messages) payloadLength += m.length;
    const payload = new Uint8Array(payloadLength);
    let at = batch ? writeArrayHeader(payload, 0, messages.length) : 0;
    for (const m of messages) {
      payload.set(m, at);
      at += m.length;
    }
    const flags = batch ? FLAG_BATCH : 0;
    if (this.compressionThresholdBytes > 0 && payloadLength >= this.compressionThresholdBytes) {
      const block = lz4CompressBlock(payload);
      if (block !== undefined) {
        const out = new Uint8Array(5 + block.length);
        out[0] = (FrameType.Control << 6) | flags | FLAG_LZ4;
        new DataView(out.buffer).setUint32(1, payloadLength, true);
        out.set(block, 5);
        return this.checkSize(out, payloadLength);
      }
    }
    const out = new Uint8Array(1 + payloadLength);
    out[0] = (FrameType.Control << 6) | flags;
    out.set(payload, 1);
    return this.checkSize(out, payloadLength);
  }

  /** Encodes messages straight into one frame (`frame(messages.map(encodeMessage))`). */
  encode(messages: Message | readonly Message[]): Uint8Array {
    const list = Array.isArray(messages) ? messages : [messages as Message];
    return this.frame(list.map((m) => this.encodeMessage(m)));
  }

  /**
   * Decodes a control frame into its messages, enforcing every limit.
   * @throws {ProtocolError} for any malformed, oversized or non-conforming input — and nothing
   * else, whatever the bytes.
   */
  decode(frame: Uint8Array): Message[] {
    const { limits } = this;
    if (frame.length === 0) throw ProtocolError.invalidFrame('empty frame');
    if (frame.length > limits.maxFrameBytes)
      throw ProtocolError.frameTooLarge(frame.length, limits.maxFrameBytes);
    const header = frame[0]!;
    const type = header >> 6;
    if (type !== FrameType.Control) {
      throw ProtocolError.invalidFrame(
        type === FrameType.Media
          ? 'media frame where a control frame was expected'
          : `reserved frame type ${type}`,
      );
    }
    if ((header & RESERVED_BITS) !== 0)
      throw ProtocolError.invalidFrame('reserved header bits set');
    let payload = frame.subarray(1);
    if (header & FLAG_LZ4) {
      if (!this.acceptCompressed) throw ProtocolError.invalidFrame('compressed frames are refused');
      if (payload.length < 5) throw ProtocolError.invalidFrame('truncated LZ4 header');
      const size = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
      if (size > limits.maxDecompressedBytes)
        throw ProtocolError.decompressedTooLarge(size, limits.maxDecompressedBytes);
      payload = lz4DecompressBlock(payload.subarray(4), size);
    }
    if (payload.length === 0) throw ProtocolError.invalidPayload('empty payload');
    scanMsgpack(payload, limits);
    let value: unknown;
    try {
      value = this.unpackr.unpack(payload);
    } catch (cause) {
      throw ProtocolError.invalidPayload('MessagePack decoding failed', cause);
    }
    if ((header & FLAG_BATCH) === 0) return [decodeMessage(value)];
    if (!Array.isArray(value) || value.length === 0)
      throw ProtocolError.invalidPayload('batch must be a non-empty array');
    if (value.length > limits.maxMessagesPerBatch) {
      throw ProtocolError.limitExceeded('batch size', value.length, limits.maxMessagesPerBatch);
    }
    return value.map(decodeMessage);
  }

  /**
   * Decodes a frame a client sent: like {@link decode}, and every message must be one a
   * client may send.
   * @throws {ProtocolError} `INVALID_PAYLOAD` for server-only opcodes.
   */
  decodeClientFrame(frame: Uint8Array): ClientMessage[] {
    const messages = this.decode(frame);
    for (const m of messages) {
      if (!CLIENT_OPS.has(m.op))
        throw ProtocolError.invalidPayload(`opcode ${m.op} may not be sent by a client`);
    }
    return messages as ClientMessage[];
  }

  /**
   * Decodes a frame a server sent.
   * @throws {ProtocolError} `INVALID_PAYLOAD` for client-only opcodes.
   */
  decodeServerFrame(frame: Uint8Array): ServerMessage[] {
    const messages = this.decode(frame);
    for (const m of messages) {
      if (CLIENT_OPS.has(m.op))
        throw ProtocolError.invalidPayload(`opcode ${m.op} may not be sent by a server`);
    }
    return messages as ServerMessage[];
  }

  private pack(value: unknown): Uint8Array {
    // msgpackr returns a view into a shared buffer that later calls append to; copying here
    // keeps retained messages (replay buffers) from pinning that buffer.
    return this.packr.pack(value).slice();
  }

  private checkSize(out: Uint8Array, payloadLength: number): Uint8Array {
    if (out.length > this.limits.maxFrameBytes)
      throw ProtocolError.frameTooLarge(out.length, this.limits.maxFrameBytes);
    if (payloadLength > this.limits.maxDecompressedBytes) {
      throw ProtocolError.decompressedTooLarge(payloadLength, this.limits.maxDecompressedBytes);
    }
    return out;
  }
}

function decodeMessage(value: unknown): Message {
  if (!Array.isArray(value) || value.length === 0)
    throw ProtocolError.invalidPayload('a message must be a non-empty array');
  const op: unknown = value[0];
  if (typeof op !== 'number' || !Number.isInteger(op))
    throw ProtocolError.invalidPayload('opcode must be an integer');
  if (op === Op.Dispatch) {
    const seq: unknown = value[1];
    const code: unknown = value[2];
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
      throw ProtocolError.invalidPayload('dispatch seq must be a positive integer');
    const t = typeof code === 'number' ? EventNamesByCode[code] : undefined;
    if (t === undefined) throw ProtocolError.invalidPayload(`unknown event code ${String(code)}`);
    const d = fromWireRecord(EventSchemas[t], value, 3, t);
    return { op, seq, t, d } as Message;
  }
  const schema = (PayloadSchemas as Partial<Record<number, ObjectSchema>>)[op];
  if (schema === undefined) throw ProtocolError.invalidPayload(`unknown opcode ${op}`);
  return { op, d: fromWireRecord(schema, value, 1, `op ${op}`) } as Message;
}

function uintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < 0x100000000 ? 5 : 9;
}

function writeUint(out: Uint8Array, at: number, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`expected a non-negative safe integer, got ${v}`);
  // Byte by byte (big-endian, as MessagePack wants): this runs once per dispatch per
  // recipient, and a DataView here was an allocation on the fan-out path.
  if (v < 0x80) {
    out[at] = v;
    return at + 1;
  }
  if (v < 0x100) {
    out[at] = 0xcc;
    out[at + 1] = v;
    return at + 2;
  }
  if (v < 0x10000) {
    out[at] = 0xcd;
    out[at + 1] = v >>> 8;
    out[at + 2] = v & 0xff;
    return at + 3;
  }
  if (v < 0x100000000) {
    out[at] = 0xce;
    out[at + 1] = v >>> 24;
    out[at + 2] = (v >>> 16) & 0xff;
    out[at + 3] = (v >>> 8) & 0xff;
    out[at + 4] = v & 0xff;
    return at + 5;
  }
  out[at] = 0xcf;
  const hi = Math.floor(v / 0x100000000);
  const lo = v >>> 0;
  for (let i = 0; i < 4; i++) out[at + 1 + i] = (hi >>> (24 - 8 * i)) & 0xff;
  for (let i = 0; i < 4; i++) out[at + 5 + i] = (lo >>> (24 - 8 * i)) & 0xff;
  return at + 9;
}

function arrayHeaderSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

function writeArrayHeader(out: Uint8Array, at: number, n: number): number {
  if (n < 16) {
    out[at] = 0x90 | n;
    return at + 1;
  }
  const view = new DataView(out.buffer, out.byteOffset);
  if (n < 0x10000) {
    out[at] = 0xdc;
    view.setUint16(at + 1, n);
    return at + 3;
  }
  out[at] = 0xdd;
  view.setUint32(at + 1, n);
  return at + 5;
}
