import type { OpusDecoderApi, TimeStretcher } from '@concord/wasm-dsp';

// The public shapes of the jitter buffer: packets in, options, statistics.

/**
 * A received media packet: what the jitter buffer needs from a media frame, independent of the
 * wire codec.
 */
export interface JitterPacket {
  /** RTP-style sequence number, u16; wraps from 65535 to 0. */
  readonly seq: number;
  /** Timestamp of the packet's first sample at 48 kHz, u32; wraps. One 10 ms packet = 480. */
  readonly timestamp: number;
  /**
   * One Opus packet of `durationSamples`. The buffer keeps this reference (no copy) until the
   * packet is played or dropped: do not reuse the array.
   */
  readonly payload: Uint8Array;
  /**
   * Duration of the packet in samples at 48 kHz: 480 (10 ms) or 960 (20 ms), from the wire
   * format. A stream may switch between them at any packet. Default 960.
   */
  readonly durationSamples?: number;
  /**
   * The packet carries in-band FEC (SILK LBRR) of the frame before it. When absent, the buffer
   * reads the LBRR flag from the Opus packet itself (`opusPacketHasLbrr`).
   */
  readonly fec?: boolean;
  /**
   * The sender's voice-activity flag. `false` marks a frame in which clock-drift and delay
   * corrections may drop or insert a frame unnoticed.
   */
  readonly speech?: boolean;
  /**
   * The relay did not forward this stream for a while before this packet (it was not among
   * the room's loudest speakers): the sequence gap before it was never sent to this receiver,
   * so it is neither loss nor concealed — it plays like a DTX pause.
   */
  readonly resumed?: boolean;
}

/** What produced the audio of the last operation of `JitterBuffer.pull`. */
export type JitterFrameKind =
  /** Nothing received yet (or still pre-buffering): zeros. */
  | 'silence'
  /** The packet due now, decoded (time-stretched or not). */
  | 'decoded'
  /** A lost frame rebuilt from the next packet's in-band FEC. */
  | 'fec'
  /** A lost or late frame concealed by Opus PLC. */
  | 'plc'
  /** The sender is silent (DTX gap): Opus PLC/CNG, not counted as loss. */
  | 'comfort'
  /** An extra PLC frame inserted to raise the delay (jitter grew, or the sender's clock is slow). */
  | 'inserted';

/**
 * The time-scale modification kernel the jitter buffer drives: `TimeStretcher` of
 * `@concord/wasm-dsp` (created by the caller — `TimeStretcher.createSync(bytes)` in a worker or
 * worklet, `await TimeStretcher.create()` in Node — so the buffer never loads WASM itself).
 */
export type JitterTimeStretcher = Pick<
  TimeStretcher,
  'inputView' | 'outputView' | 'run' | 'lastOutcome' | 'lastChangeSamples' | 'reset' | 'destroy'
>;

/** Options of `JitterBuffer`. */
export interface JitterBufferOptions {
  /** The sender's decoder. The jitter buffer owns it: `close()` destroys it. */
  decoder: OpusDecoderApi;
  /**
   * Time-scale modification (accelerate / preemptive expand by one pitch period), so the delay
   * moves by a few ms inside speech instead of by whole frames. The jitter buffer owns it
   * (`close()` destroys it) and passes every sample it plays through it. Without one, the delay
   * moves by whole frames only.
   */
  timeStretcher?: JitterTimeStretcher;
  /**
   * Samples returned by each `JitterBuffer.pull`, 1–960: 960 (20 ms, the default), 480
   * (10 ms), or a render quantum (128). A packet is decoded at the pull that needs its first
   * sample, so the hold of packets moves on this grid: smaller pulls let time stretching steer
   * the delay finer (see `JitterBuffer`).
   */
  pullSamples?: number;
  /**
   * Lowest buffer level in ms, counted when a packet arrives with that packet included: the
   * audio ahead of the listener (hold, sink queue and the packet's own duration). 10–1,000.
   * Default 20: 10 ms packets are held ≥ 10 ms, 20 ms packets need no hold of their own.
   */
  minDelayMs?: number;
  /**
   * Highest delay (hold of the fastest packets) in ms; packets that would need more are
   * dropped as late. Default 200.
   */
  maxDelayMs?: number;
  /** Delay before the first packet is played, in ms, while there is no jitter history. Default 40. */
  initialDelayMs?: number;
  /** Share of packets the target delay should get in on time (0.5–0.999). Default 0.95. */
  quantile?: number;
  /**
   * Forgetting factor of the delay histogram per 20 ms of audio (0.9–0.9999). Default 0.993:
   * memory of ≈ 2.9 s, so after a jitter burst the target comes back down within ~10 s.
   */
  forgetFactor?: number;
  /** A decoded frame below this RMS level in dBFS counts as quiet (drift corrections). Default -45. */
  quietDbfs?: number;
  /**
   * While the stream carries in-band FEC and loses packets (≥ 1 % over `lossWindowMs`), keep
   * one packet more delay, so that a lost packet's successor — the packet holding its FEC — has
   * usually arrived when the lost one is due (measured with 0–60 ms jitter: without it the
   * successor was missing for ~40 % of losses, which then fell to PLC). Default true.
   */
  fecDelay?: boolean;
  /** Window of `lossPct`, in ms. Default 5,000. */
  lossWindowMs?: number;
  /**
   * When a delay correction has waited this long (ms) — for a quiet frame, or for the stretcher
   * to find a voiced one — a whole frame is dropped or inserted on the next frame regardless.
   * Default 1,000.
   */
  forceCorrectionAfterMs?: number;
  /**
   * A high-resolution clock in ms, read around each operation to report its cost
   * (`JitterBuffer.getOperationStats`). Default `performance.now()`.
   */
  cpuClock?: () => number;
}

/** Counters and estimates of one `JitterBuffer`; a snapshot, safe to keep. */
export interface JitterBufferStats {
  /** RFC 3550 §6.4.1 interarrival jitter, in ms. */
  jitterMs: number;
  /** Packets lost over the last `lossWindowMs`, in percent (0–100). */
  lossPct: number;
  /** Packets received (late ones included, duplicates not). */
  received: number;
  /** Cumulative lost packets (RFC 3550 A.3: expected − received). */
  lostTotal: number;
  /** Packets that arrived after their play-out time (dropped). */
  late: number;
  /** Duplicate packets (dropped). */
  duplicates: number;
  /** Frames concealed by PLC because their packet was lost or late. */
  concealed: number;
  /** Lost frames rebuilt from in-band FEC. */
  fecRecovered: number;
  /** Frames of comfort noise played in the sender's DTX gaps. */
  comfortFrames: number;
  /** Frames inserted to raise the delay (jitter or a slow sender clock). */
  insertedFrames: number;
  /** Frames skipped to lower the delay (calm network, fast sender clock, max-delay bound). */
  droppedFrames: number;
  /** Delay removed by accelerate (time stretching) in total, ms. */
  acceleratedMs: number;
  /** Delay added by preemptive expand (time stretching) in total, ms. */
  expandedMs: number;
  /** Stretch attempts the stretcher refused (unvoiced speech, or a period too long for the input). */
  stretchRefusals: number;
  /** Packets the decoder rejected (concealed instead). */
  decodeErrors: number;
  /** Times the stream restarted (sequence jump, overflow). */
  resyncs: number;
  /** Packets waiting to be played. */
  bufferedPackets: number;
  /** Duration of the latest packet, ms (10 or 20). */
  packetMs: number;
  /**
   * Delay the buffer adds to the fastest packets of the last 2 s, in ms: arrival → pull, plus
   * the sink's queue ahead of the frame (`pull`'s `queuedMs`), i.e. arrival → start of play-out.
   */
  currentDelayMs: number;
  /**
   * Delay the buffer steers to, in ms, on the same scale: the hold at decode time it steers
   * (`quantile` of the recent relative delays, one packet more for FEC under loss, at least the
   * minimum buffer level less the packet's duration and the sink queue, at most `maxDelayMs`)
   * plus the FIFO's remainder at the last decode (< one pull) and the sink queue.
   */
  targetDelayMs: number;
}
