import type { VadParams } from '../vadOptions.js';

const LEVEL_FLOOR_DBFS = -120;

function toDb(power: number): number {
  return power > 1e-12 ? Math.max(10 * Math.log10(power), LEVEL_FLOOR_DBFS) : LEVEL_FLOOR_DBFS;
}

/**
 * Plain-TS reference of the level meter and energy VAD (assembly/lib/vadCore.ts), operation for
 * operation. Tests and benchmarks only.
 */
export class ScalarVad {
  levelDbfs = LEVEL_FLOOR_DBFS;
  peakDbfs = LEVEL_FLOOR_DBFS;
  bandDbfs = LEVEL_FLOOR_DBFS;
  noiseDbfs = 0;
  probability = 0;
  speaking = false;
  private z1 = 0;
  private z2 = 0;
  private started = false;
  private hangoverLeft = 0;

  constructor(private readonly params: VadParams) {}

  /** Measures `frame`; `external` ≥ 0 replaces the energy detector. Returns the mean square. */
  process(frame: Float32Array, external = -1): number {
    const [b0, a1, a2, thresholdDb, slopeDb, speechFloorDbfs, rise, hangover] = this.params;
    const b2 = -b0;
    let sum = 0;
    let band = 0;
    let peak = 0;
    let s1 = this.z1;
    let s2 = this.z2;
    for (let i = 0; i < frame.length; i++) {
      const x = frame[i]!;
      sum += x * x;
      const a = Math.abs(x);
      if (a > peak) peak = a;
      const y = b0 * x + s1;
      s1 = s2 - a1 * y;
      s2 = b2 * x - a2 * y;
      band += y * y;
    }
    this.z1 = Math.abs(s1) < 1e-30 ? 0 : s1;
    this.z2 = Math.abs(s2) < 1e-30 ? 0 : s2;
    const n = frame.length;
    const meanSquare = sum / n;
    this.levelDbfs = toDb(meanSquare);
    this.peakDbfs = toDb(peak * peak);
    this.bandDbfs = toDb(band / n);
    if (!this.started) {
      this.noiseDbfs = this.bandDbfs;
      this.started = true;
    } else if (this.bandDbfs < this.noiseDbfs) {
      this.noiseDbfs = this.bandDbfs;
    } else {
      this.noiseDbfs += Math.min(this.bandDbfs - this.noiseDbfs, rise);
    }
    if (external >= 0) this.probability = Math.min(external, 1);
    else if (this.bandDbfs < speechFloorDbfs) this.probability = 0;
    else {
      this.probability =
        1 / (1 + Math.exp((thresholdDb - (this.bandDbfs - this.noiseDbfs)) / slopeDb));
    }
    if (this.probability >= 0.5) {
      this.speaking = true;
      this.hangoverLeft = hangover;
    } else if (this.hangoverLeft > 0) this.hangoverLeft--;
    else this.speaking = false;
    return meanSquare;
  }
}
