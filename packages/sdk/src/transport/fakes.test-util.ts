// Fakes for sender/receiver unit tests: a transport that records what is sent and lets the test
// deliver frames, a frame source, and codecs whose output reveals what went through them.
import {
  decodeMediaFrame,
  encodeMediaFrame,
  type MediaFrame,
  type MediaFrameFields,
  type ReceiverReport,
} from '@concord/protocol';
import type { OpusDecoderApi, OpusEncoderSettings } from '@concord/wasm-dsp';
import type { CapturedFrame } from '../media/LocalAudio.js';
import { TypedEmitter } from '../TypedEmitter.js';
import type { Transport, TransportEvents } from './Transport.js';
import type { FrameSource, SenderEncoder } from '../send/VoiceSender.js';
import type { PlaybackSink } from '../receive/VoiceReceiver.js';

export class FakeTransport extends TypedEmitter<TransportEvents> implements Transport {
  readonly kind = 'fake';
  ready = true;
  readonly sent: { room: string; frame: MediaFrame }[] = [];
  readonly reports: { room: string; reports: ReceiverReport[] }[] = [];
  sendMedia(room: string, bytes: Uint8Array): boolean {
    this.sent.push({ room, frame: decodeMediaFrame(bytes.slice()) });
    return this.ready;
  }
  sendReceiverReports(room: string, reports: readonly ReceiverReport[]): void {
    this.reports.push({ room, reports: [...reports] });
  }
  /** Delivers a frame as if it arrived from the network. */
  deliver(fields: MediaFrameFields, payload: Uint8Array, arrivalMs: number): void {
    this.safeEmit('media', decodeMediaFrame(encodeMediaFrame(fields, payload)), arrivalMs);
  }
  close(): void {}
}

export class FakeFrameSource implements FrameSource {
  private readonly listeners = new Set<(f: CapturedFrame) => void>();
  onFrame(listener: (f: CapturedFrame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  /** A silent 10 ms frame (as the capture worklet sends) with this level and flags (bit 0 speaking, bit 1 muted). */
  emit(levelDbfs = -20, flags = 1, samples = 480): void {
    this.emitFrame({
      samples: new Float32Array(samples),
      meta: { seq: 0, levelDbfs, speechProbability: 0.9, flags },
    });
  }
  emitFrame(frame: CapturedFrame): void {
    for (const l of this.listeners) l(frame);
  }
}

/** Returns the queued packets in turn (default: 10 bytes of 0xfc); records configure calls. */
export class FakeEncoder implements SenderEncoder {
  readonly configured: Partial<OpusEncoderSettings>[] = [];
  readonly next: Uint8Array[] = [];
  encoded = 0;
  /** PCM length of each encode call. */
  readonly encodedLengths: number[] = [];
  destroyed = false;
  /** Answers synchronously, or queues the answer for `flush()` when `async` is set. */
  async = false;
  private readonly queued: (() => void)[] = [];
  encode(pcm: Float32Array, done: (packet: Uint8Array) => void): void {
    this.encoded++;
    this.encodedLengths.push(pcm.length);
    const packet = this.next.shift() ?? new Uint8Array(10).fill(0xfc);
    if (this.async) this.queued.push(() => done(packet));
    else done(packet);
  }
  /** Delivers queued packets, in order. */
  flush(): void {
    for (const f of this.queued.splice(0)) f();
  }
  configure(changes: Partial<OpusEncoderSettings>): void {
    this.configured.push({ ...changes });
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** The settings after every configure call. */
  get settings(): Partial<OpusEncoderSettings> {
    return Object.assign({}, ...this.configured) as Partial<OpusEncoderSettings>;
  }
}

/**
 * Decodes packet byte `idByte` (default 0) to a constant frame of value byte/256, as long as
 * `out`; PLC and FEC give −1 and −0.5.
 */
export class FakeDecoder implements OpusDecoderApi {
  destroyed = false;
  constructor(private readonly idByte = 0) {}
  decode(packet: Uint8Array, out: Float32Array): number {
    out.fill(packet[this.idByte]! / 256);
    return out.length;
  }
  decodeFec(_next: Uint8Array, out: Float32Array): number {
    out.fill(-0.5);
    return out.length;
  }
  conceal(out: Float32Array): number {
    out.fill(-1);
    return out.length;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

export class FakeSink implements PlaybackSink {
  readonly frames = new Map<string, number[]>();
  /** Records the first sample of each frame. */
  pushFrame(key: string, samples: Float32Array): boolean {
    let list = this.frames.get(key);
    if (!list) this.frames.set(key, (list = []));
    list.push(samples[0]!);
    return true;
  }
}
