import { SAMPLE_RATE_HZ } from '@concord/wasm-dsp';

const SAMPLES_PER_MS = SAMPLE_RATE_HZ / 1_000;
/** Base transit is the minimum over this much history (as WebRTC NetEq's `max_history_ms`). */
const BASE_HISTORY_MS = 2_000;
/** Arrivals remembered for the base transit: 2 s of 10 ms packets, with room for reordering. */
const HISTORY_ENTRIES = 256;
/** Relative-delay histogram: 5 ms buckets up to 400 ms; the last bucket holds everything above. */
const BUCKET_MS = 5;
const BUCKETS = 81;
/** The forgetting factor is per this much audio (one 20 ms packet), so 10 ms packets age alike. */
const FORGET_UNIT_MS = 20;
// Delay histogram start-up: the forgetting factor ramps from this to the configured one over the
// first STARTUP_MS of audio (10 s).
const STARTUP_FORGET_FACTOR = 0.98;
const STARTUP_MS = 10_000;
/** The sink's queue is smoothed over ~16 pulls (see {@link DelayManager.observeQueue}). */
const QUEUE_SMOOTHING = 16;

/** Options of {@link DelayManager}; see `JitterBufferOptions` for their meaning. */
export interface DelayManagerOptions {
  /** Lowest buffer level, ms, the packet that just arrived included (10–1,000). Default 20. */
  minDelayMs?: number;
  /** Highest target, ms (≥ minDelayMs, ≤ 1,000). Default 200. */
  maxDelayMs?: number;
  /** Target before any jitter history, ms (0–maxDelayMs). Default 40. */
  initialDelayMs?: number;
  /** Share of packets the target should get in on time (0.5–0.999). Default 0.95. */
  quantile?: number;
  /** Forgetting factor of the histogram per 20 ms of audio (0.9–0.9999). Default 0.993. */
  forgetFactor?: number;
}

/**
 * The target delay of one stream — WebRTC NetEq's delay manager
 * (`modules/audio_coding/neteq/delay_manager.cc`, `underrun_optimizer.cc`,
 * `packet_arrival_history.cc`):
 *
 * - **Base transit**: the minimum over the last 2 s of each packet's transit measured at its
 *   end (`arrival − (timestamp + duration)/48`, ms): a packet leaves when complete, so this is
 *   the network's fastest delivery whatever the packet duration, and a stream that switches
 *   between 10 and 20 ms packets keeps its history. A packet's first sample is due a duration
 *   later ({@link baseTransitMs}).
 * - **Histogram**: each packet's relative delay (its end transit minus the base) goes into a
 *   histogram of 5 ms buckets with exponential forgetting (0.993 per 20 ms of audio, ramping up
 *   from 0.98 over the first 10 s, with a running average at start-up, as NetEq's start-up
 *   weight); the `quantile` (95 %) bucket's upper edge is the jitter protection (`spreadMs`).
 * - **Minimum delay, on buffer level**: the level a packet finds when it arrives — the audio
 *   ahead of the listener, that packet included — must reach `minDelayMs`. For the fastest
 *   packets that level is hold + sink queue + packet duration, so the hold floor is
 *   `minDelayMs − packetMs − queuedMs` (never negative): with 10 ms packets a 20 ms minimum
 *   holds the fastest packets 10 ms, with 20 ms packets not at all.
 * - **Target** (what the jitter buffer steers its hold to: arrival → pull of the fastest
 *   packets, ms): max(spread + FEC protection, hold floor), at most `maxDelayMs`. The FEC
 *   protection is one packet, so that a lost packet's successor — which carries its FEC — has
 *   usually arrived when the lost one is due; the jitter buffer turns it on while the stream
 *   carries FEC and loses packets.
 *
 * Allocates nothing per packet. Runs on the jitter buffer's thread; time is passed in.
 */
export class DelayManager {
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  /** Delay before the first packet is played, ms, while there is no jitter history. */
  readonly initialDelayMs: number;
  private readonly quantile: number;
  private readonly forgetFactor: number;

  private readonly histArrival = new Float64Array(HISTORY_ENTRIES);
  private readonly histTransit = new Float64Array(HISTORY_ENTRIES);
  private histNext = 0;
  private histCount = 0;
  private base = 0;
  private readonly buckets = new Float64Array(BUCKETS);
  private histogramPackets = 0;
  private histogramMs = 0;
  private spread = 0;
  private queued = 0;
  private packet = 20;
  private fecProtection = false;
  private target: number;

  /** @throws {RangeError} when an option is out of range (the message names it). */
  constructor(options: DelayManagerOptions = {}) {
    this.minDelayMs = options.minDelayMs ?? 20;
    this.maxDelayMs = options.maxDelayMs ?? 200;
    this.initialDelayMs = options.initialDelayMs ?? 40;
    this.quantile = options.quantile ?? 0.95;
    this.forgetFactor = options.forgetFactor ?? 0.993;
    range('minDelayMs', this.minDelayMs, 10, 1_000);
    range('maxDelayMs', this.maxDelayMs, this.minDelayMs, 1_000);
    range('initialDelayMs', this.initialDelayMs, 0, this.maxDelayMs);
    range('quantile', this.quantile, 0.5, 0.999);
    range('forgetFactor', this.forgetFactor, 0.9, 0.9999);
    this.target = Math.min(this.maxDelayMs, Math.max(this.floorMs(), this.initialDelayMs));
  }

  /**
   * Transit of the first sample of the fastest packets, ms (arrival clock − sender clock): the
   * base transit at packets' ends plus the latest packet's duration. Switching to longer
   * packets raises it by the difference, as the sender now waits longer before sending.
   */
  get baseTransitMs(): number {
    return this.base + this.packet;
  }

  /** The jitter protection: `quantile` of the relative delays (5 ms bucket edge), ms. */
  get spreadMs(): number {
    return this.spread;
  }

  /** Target hold of the fastest packets (arrival → pull), ms. */
  get targetMs(): number {
    return this.target;
  }

  /** The smoothed audio queued at the sink ahead of each pulled frame, ms. */
  get queuedMs(): number {
    return this.queued;
  }

  /** Duration of the latest packet, ms. */
  get packetMs(): number {
    return this.packet;
  }

  /** Whether the FEC packet of delay is in the target now. */
  get fecProtected(): boolean {
    return this.fecProtection;
  }

  /** The hold floor from the minimum buffer level, ms (see the class description). */
  floorMs(): number {
    return Math.max(0, this.minDelayMs - this.packet - this.queued);
  }

  /**
   * A new stream (sender restart): forgets the base transit; the histogram stays (the network
   * did not change).
   */
  restart(): void {
    this.histCount = 0;
  }

  /**
   * Records one packet's arrival and updates the target.
   * @param extTs the packet's extended timestamp, 48 kHz samples.
   * @param arrivalMs its arrival on the receiver's monotonic clock, ms.
   * @param packetSamples its duration, samples at 48 kHz.
   * @param fecProtection whether to keep one packet of delay for FEC (see the class description).
   */
  update(extTs: number, arrivalMs: number, packetSamples: number, fecProtection: boolean): void {
    const packetMs = packetSamples / SAMPLES_PER_MS;
    const transitMs = arrivalMs - extTs / SAMPLES_PER_MS - packetMs;
    this.packet = packetMs;
    this.histArrival[this.histNext] = arrivalMs;
    this.histTransit[this.histNext] = transitMs;
    this.histNext = (this.histNext + 1) % HISTORY_ENTRIES;
    if (this.histCount < HISTORY_ENTRIES) this.histCount++;
    let base = transitMs;
    for (let k = 0; k < this.histCount; k++) {
      if (this.histArrival[k]! >= arrivalMs - BASE_HISTORY_MS && this.histTransit[k]! < base) {
        base = this.histTransit[k]!;
      }
    }
    this.base = base;

    // Exponential forgetting, with a running average until the factor is reached (NetEq's
    // start-up weight) so the first packets are not drowned by an empty history. The factor
    // ramps up from STARTUP_FORGET_FACTOR (memory ≈ 1 s) over the stream's first 10 s, as
    // NetEq's histogram does: the start of a call is when pages and codecs warm up, and a stall
    // then must not hold the delay up for 10 s.
    this.histogramPackets++;
    this.histogramMs += packetMs;
    const ramp = Math.min(1, this.histogramMs / STARTUP_MS);
    const start = Math.min(STARTUP_FORGET_FACTOR, this.forgetFactor);
    const forget = (start + (this.forgetFactor - start) * ramp) ** (packetMs / FORGET_UNIT_MS);
    const w = Math.max(1 - forget, 1 / this.histogramPackets);
    for (let b = 0; b < BUCKETS; b++) this.buckets[b]! *= 1 - w;
    const bucket = Math.min(BUCKETS - 1, Math.floor((transitMs - base) / BUCKET_MS));
    this.buckets[bucket]! += w;
    let sum = 0;
    let q = BUCKETS - 1;
    for (let b = 0; b < BUCKETS; b++) {
      sum += this.buckets[b]!;
      if (sum >= this.quantile) {
        q = b;
        break;
      }
    }
    this.spread = (q + 1) * BUCKET_MS;
    this.fecProtection = fecProtection;
    this.updateTarget();
  }

  /**
   * The audio queued at the sink ahead of the frame being pulled, ms: it counts toward the
   * minimum buffer level, never toward jitter protection. It swings by a render burst (~10 ms)
   * from pull to pull, so it is smoothed (1/16 per call) lest the target cross the control's
   * thresholds with it; 0 resets it.
   */
  observeQueue(queuedMs: number): void {
    const q = Number.isFinite(queuedMs) && queuedMs > 0 ? Math.min(queuedMs, 1_000) : 0;
    const smoothed =
      q === 0 || this.queued === 0 ? q : this.queued + (q - this.queued) / QUEUE_SMOOTHING;
    if (smoothed === this.queued) return;
    this.queued = smoothed;
    this.updateTarget();
  }

  private updateTarget(): void {
    const needed = this.spread + (this.fecProtection ? this.packet : 0);
    this.target = Math.min(this.maxDelayMs, Math.max(this.floorMs(), needed));
  }
}

function range(name: string, value: number, lo: number, hi: number): void {
  if (!(Number.isFinite(value) && value >= lo && value <= hi)) {
    throw new RangeError(`${name} must be in [${lo}, ${hi}], got ${String(value)}`);
  }
}
