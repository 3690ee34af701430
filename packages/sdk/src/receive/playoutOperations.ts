// What the jitter buffer does to produce audio (WebRTC NetEq's operations,
// `api/neteq/neteq.h` `NetEq::Operation`, plus the whole-frame corrections Concord falls back
// to), with a counter of how often each ran and what it cost.

/**
 * One play-out operation of the jitter buffer; each consumes one or two packets (or none) and
 * produces audio:
 * - `normal`: the packet due, decoded.
 * - `merge`: the packet due, decoded right after concealment; Opus's decoder glues the two
 *   (SILK `silk_PLC_glue_frames`, CELT's overlap with the concealed tail), as NetEq's merge.
 * - `accelerate` / `preemptiveExpand`: decoded audio with one pitch period removed / inserted
 *   (WSOLA, `TimeStretcher`): the delay moves by 2.5–20 ms inside speech.
 * - `accelerateRefused` / `preemptiveExpandRefused`: the same attempt refused by the stretcher
 *   (unvoiced or no room): the audio plays unchanged; retried on the next packet.
 * - `expand`: Opus PLC for audio that is not there (lost, late, or the buffer ran empty).
 * - `fec`: a lost frame rebuilt from the next packet's in-band FEC.
 * - `comfort`: Opus PLC/CNG through the sender's DTX gap (not loss).
 * - `frameDrop` / `frameInsert`: the whole-frame correction (a decoded frame skipped, a PLC frame
 *   inserted before an available packet), used without a stretcher, in quiet frames, or when
 *   the stretcher could not act for `forceCorrectionAfterMs`.
 */
export type JitterOperation = (typeof JITTER_OPERATIONS)[number];

/** Every {@link JitterOperation}, in the order of their numeric codes. */
export const JITTER_OPERATIONS = [
  'normal',
  'merge',
  'accelerate',
  'accelerateRefused',
  'preemptiveExpand',
  'preemptiveExpandRefused',
  'expand',
  'fec',
  'comfort',
  'frameDrop',
  'frameInsert',
] as const;

/** Numeric codes of the operations (indices into {@link JITTER_OPERATIONS}). */
export const Op = {
  normal: 0,
  merge: 1,
  accelerate: 2,
  accelerateRefused: 3,
  preemptiveExpand: 4,
  preemptiveExpandRefused: 5,
  expand: 6,
  fec: 7,
  comfort: 8,
  frameDrop: 9,
  frameInsert: 10,
} as const satisfies Record<JitterOperation, number>;

/** How often one operation ran and its cost. */
export interface JitterOperationStats {
  /** Times it ran. */
  count: number;
  /** Total time spent in it (decoding, concealment and time stretching included), µs. */
  totalUs: number;
  /** Mean time per run, µs (0 when it never ran). */
  meanUs: number;
}

/** Per-operation counts and costs; a snapshot. */
export type JitterOperationCounts = Record<JitterOperation, JitterOperationStats>;

/**
 * Counts operations and sums their cost. `record` allocates nothing; `snapshot` allocates the
 * result. Runs on the jitter buffer's thread.
 */
export class OperationCounter {
  private readonly counts = new Float64Array(JITTER_OPERATIONS.length);
  private readonly micros = new Float64Array(JITTER_OPERATIONS.length);

  /** Counts one run of operation `op` (a code of {@link Op}) that took `us` µs. */
  record(op: number, us: number): void {
    this.counts[op]!++;
    this.micros[op]! += us;
  }

  /** How often `op` ran. */
  count(op: number): number {
    return this.counts[op]!;
  }

  /** Counts and costs of every operation. */
  snapshot(): JitterOperationCounts {
    const out = {} as JitterOperationCounts;
    JITTER_OPERATIONS.forEach((name, op) => {
      const count = this.counts[op]!;
      const totalUs = this.micros[op]!;
      out[name] = { count, totalUs, meanUs: count > 0 ? totalUs / count : 0 };
    });
    return out;
  }
}
