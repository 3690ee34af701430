// Helpers of the SFU integration tests (*.netns.test.ts): a real mediasoup worker (the managed
// build from scripts/ensure-mediasoup.mjs), and WebRTC peers in Node — mediasoup-client with its
// Chrome111 handler over @roamhq/wrtc (libwebrtc). These tests run only inside a loopback-only
// network namespace (vitest.netns.config.ts; see scripts/test.mjs). Node only.
import wrtc from '@roamhq/wrtc';
import { Device } from 'mediasoup-client';
import type { Consumer, Producer, Transport } from 'mediasoup-client/types';
import { loadMediasoup } from '../src/sfu/mediasoupLoader.js';
import { Sfu, type SfuOptions } from '../src/sfu/Sfu.js';
import type { SfuLogger } from '../src/sfu/SfuEmitter.js';

// mediasoup-client's Chrome111 handler uses the browser globals.
const g = globalThis as Record<string, unknown>;
g.RTCPeerConnection ??= wrtc.RTCPeerConnection;
g.MediaStream ??= wrtc.MediaStream;
g.MediaStreamTrack ??= wrtc.MediaStreamTrack;
g.RTCSessionDescription ??= wrtc.RTCSessionDescription;
g.RTCIceCandidate ??= wrtc.RTCIceCandidate;

export const SAMPLE_RATE_HZ = 48_000;
/** wrtc's audio source takes 10 ms chunks. */
const CHUNK_SAMPLES = 480;

/** One log call captured by {@link testLogger}. */
export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  context: object;
  message: string;
}

/** A pino-compatible logger that keeps its entries. */
export function testLogger(): SfuLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (context: object, message: string): void => {
      entries.push({ level, context, message });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Starts an SFU on the managed mediasoup build with a capturing logger. */
export async function startSfu(
  options: Partial<Omit<SfuOptions, 'mediasoup' | 'logger'>> = {},
): Promise<{ sfu: Sfu; logger: ReturnType<typeof testLogger> }> {
  const logger = testLogger();
  const sfu = await Sfu.create({
    mediasoup: loadMediasoup(),
    logger,
    workerCount: 1,
    portRange: { min: 42_000, max: 42_999 },
    ...options,
  });
  return { sfu, logger };
}

/** Resolves when `predicate` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A sine tone source feeding a wrtc track in 10 ms chunks (drift-free clock). */
export class ToneSource {
  readonly track: MediaStreamTrack;
  private readonly source = new wrtc.nonstandard.RTCAudioSource();
  private timer: NodeJS.Timeout | undefined;
  private phase = 0;

  constructor(
    readonly frequencyHz: number,
    /** Peak amplitude, 0–1 of full scale. */
    readonly amplitude: number,
  ) {
    this.track = this.source.createTrack() as unknown as MediaStreamTrack;
    const samples = new Int16Array(CHUNK_SAMPLES);
    const step = (2 * Math.PI * frequencyHz) / SAMPLE_RATE_HZ;
    let next = performance.now();
    const tick = (): void => {
      for (let i = 0; i < CHUNK_SAMPLES; i++) {
        samples[i] = Math.round(32_767 * amplitude * Math.sin(this.phase));
        this.phase += step;
      }
      this.phase %= 2 * Math.PI;
      this.source.onData({
        samples,
        sampleRate: SAMPLE_RATE_HZ,
        bitsPerSample: 16,
        channelCount: 1,
        numberOfFrames: CHUNK_SAMPLES,
      });
      next += 10;
      this.timer = setTimeout(tick, Math.max(1, next - performance.now()));
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.track.stop();
  }
}

/**
 * Goertzel power of `frequencyHz` in `samples` under a Hann window (sidelobes fall 18 dB per
 * octave, so a tone 5 bins away does not leak in), normalized so a sine of amplitude A gives A².
 */
export function tonePower(samples: Int16Array | Float32Array, frequencyHz: number): number {
  const n = samples.length;
  const coeff = 2 * Math.cos((2 * Math.PI * frequencyHz) / SAMPLE_RATE_HZ);
  let s1 = 0;
  let s2 = 0;
  const scale = samples instanceof Int16Array ? 1 / 32_768 : 1;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const s0 = samples[i]! * scale * w + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  // |X|² of A·sin under a Hann window is (A·n/4)²: the window's mean is 1/2, and half of a
  // real sine's energy sits at the positive frequency.
  return (16 * power) / (n * n);
}

/** Tone power that counts as present: −50 dB re a full-scale sine (amplitude 0.003). */
export const TONE_PRESENT_POWER = 1e-5;

/** Listens to a received track: counts 10 ms chunks in which a tone is clearly present. */
export class ToneListener {
  /** Chunks received. */
  chunks = 0;
  /** Chunks in which each watched frequency was present (power above −50 dB of full scale). */
  readonly heard = new Map<number, number>();
  private readonly sink: { stop(): void; ondata: unknown };

  constructor(
    track: MediaStreamTrack,
    readonly frequenciesHz: number[],
  ) {
    for (const f of frequenciesHz) this.heard.set(f, 0);
    this.sink = new wrtc.nonstandard.RTCAudioSink(
      track as unknown as ConstructorParameters<typeof wrtc.nonstandard.RTCAudioSink>[0],
    ) as unknown as { stop(): void; ondata: unknown };
    this.sink.ondata = (data: { samples: Int16Array; channelCount?: number }) => {
      this.chunks++;
      // Mono view of the first channel (wrtc may deliver stereo interleaved).
      const ch = data.channelCount ?? 1;
      const mono =
        ch === 1 ? data.samples : data.samples.filter((_: number, i: number) => i % ch === 0);
      for (const f of frequenciesHz)
        if (tonePower(mono, f) > TONE_PRESENT_POWER) this.heard.set(f, this.heard.get(f)! + 1);
    };
  }

  /** Chunks in which `frequencyHz` was heard. */
  count(frequencyHz: number): number {
    return this.heard.get(frequencyHz) ?? 0;
  }

  reset(): void {
    this.chunks = 0;
    for (const f of this.frequenciesHz) this.heard.set(f, 0);
  }

  stop(): void {
    this.sink.stop();
  }
}

/**
 * A WebRTC member: mediasoup-client Device (Chrome111 handler over wrtc) with a send and a
 * receive transport signalled straight to the {@link Sfu} (the gateway's job in production).
 */
export class TestPeer {
  readonly device = new Device({ handlerName: 'Chrome111' });
  sendTransport: Transport | undefined;
  recvTransport: Transport | undefined;
  producer: Producer | undefined;
  tone: ToneSource | undefined;
  readonly consumers = new Map<string, { consumer: Consumer; listener: ToneListener }>();

  private constructor(
    readonly sfu: Sfu,
    readonly room: string,
    readonly memberId: string,
  ) {}

  /** Joins `room` on the WebRTC path and sets up both transports. */
  static async join(sfu: Sfu, room: string, memberId: string, ssrc: number): Promise<TestPeer> {
    await sfu.join(room, memberId, ssrc, 'webrtc');
    const peer = new TestPeer(sfu, room, memberId);
    await peer.device.load({
      routerRtpCapabilities: (await sfu.rtpCapabilities()) as Parameters<
        Device['load']
      >[0]['routerRtpCapabilities'],
    });
    await peer.connectTransports();
    return peer;
  }

  /** Creates (again, after a reset) the send and receive transports. */
  async connectTransports(): Promise<void> {
    this.sendTransport = await this.transport('send');
    this.recvTransport = await this.transport('recv');
  }

  private async transport(direction: 'send' | 'recv'): Promise<Transport> {
    const info = await this.sfu.createTransport(this.room, this.memberId, direction);
    const options = info as unknown as Parameters<Device['createSendTransport']>[0];
    const t =
      direction === 'send'
        ? this.device.createSendTransport(options)
        : this.device.createRecvTransport(options);
    t.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.sfu.connectTransport(this.memberId, t.id, dtlsParameters).then(callback, errback);
    });
    t.on('produce', ({ kind, rtpParameters }, callback, errback) => {
      this.sfu
        .produce(this.memberId, t.id, kind, rtpParameters)
        .then(({ producerId }) => callback({ id: producerId }), errback);
    });
    return t;
  }

  /** Sends a sine tone as this member's audio producer. */
  async produceTone(frequencyHz: number, amplitude: number): Promise<string> {
    this.tone?.stop();
    this.tone = new ToneSource(frequencyHz, amplitude);
    this.producer = await this.sendTransport!.produce({
      track: this.tone.track,
      codecOptions: { opusDtx: false },
    });
    return this.producer.id;
  }

  /** Consumes `producerId` and listens for `frequenciesHz` on it. */
  async consume(producerId: string, frequenciesHz: number[]): Promise<ToneListener> {
    const info = await this.sfu.consume(
      this.memberId,
      this.recvTransport!.id,
      producerId,
      this.device.recvRtpCapabilities,
    );
    const consumer = await this.recvTransport!.consume({
      id: info.id,
      producerId: info.producerId,
      kind: 'audio',
      rtpParameters: info.rtpParameters as Parameters<Transport['consume']>[0]['rtpParameters'],
    });
    const listener = new ToneListener(consumer.track, frequenciesHz);
    this.consumers.set(producerId, { consumer, listener });
    await this.sfu.resumeConsumer(this.memberId, info.id);
    return listener;
  }

  /** Drops every transport, producer and consumer on this side (after a reset or to leave). */
  closeMedia(): void {
    for (const { consumer, listener } of this.consumers.values()) {
      listener.stop();
      consumer.close();
    }
    this.consumers.clear();
    this.producer?.close();
    this.producer = undefined;
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.sendTransport = undefined;
    this.recvTransport = undefined;
  }

  close(): void {
    this.closeMedia();
    this.tone?.stop();
  }
}
