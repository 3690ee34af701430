import { SAMPLE_RATE_HZ } from '../constants.js';
import { binauralParams, DEFAULT_HEAD_RADIUS_M, shadowLowPass } from '../spatialModel.js';

/** Past samples kept per voice (as the kernel's HISTORY). */
const HISTORY = 64;

/**
 * Plain-TS scalar reference of the spatial kernel (assembly/spatial.ts) without its limiter:
 * the same shared low pass, per-ear α and delay, linear-interpolation reads, cross-fade on a
 * delay change and gain/α ramps, one sample at a time. For tests (the kernel must agree to
 * float rounding) and benchmarks (its speed is the baseline). Allocates only in the constructor.
 */
export class ScalarSpatializer {
  readonly left: Float32Array;
  readonly right: Float32Array;
  readonly mono: Float32Array;
  private readonly x: Float32Array[];
  private readonly hp: Float32Array[];
  private readonly target: Float32Array[];
  private readonly prev: Float32Array[];
  private readonly lp: Float32Array;
  private readonly b: number;
  private readonly a1: number;

  constructor(
    readonly maxVoices: number,
    readonly frameSamples = 128,
    readonly headRadiusM = DEFAULT_HEAD_RADIUS_M,
  ) {
    const n = frameSamples;
    this.x = Array.from({ length: maxVoices }, () => new Float32Array(HISTORY + n));
    this.hp = Array.from({ length: maxVoices }, () => new Float32Array(HISTORY + n));
    // [gain, delayL, delayR, alphaL, alphaR]
    this.target = Array.from({ length: maxVoices }, () => Float32Array.of(1, 0, 0, 1, 1));
    this.prev = Array.from({ length: maxVoices }, () => Float32Array.of(1, 0, 0, 1, 1));
    this.lp = new Float32Array(maxVoices);
    this.left = new Float32Array(n);
    this.right = new Float32Array(n);
    this.mono = new Float32Array(n);
    const c = shadowLowPass(headRadiusM, SAMPLE_RATE_HZ);
    this.b = Math.fround(c.b);
    this.a1 = Math.fround(c.a1);
  }

  /** Voice `v`'s input frame. */
  input(v: number): Float32Array {
    return this.x[v]!.subarray(HISTORY);
  }

  setGain(v: number, gain: number): void {
    this.target[v]![0] = gain;
  }

  setDirection(v: number, azimuthRad: number, elevationRad = 0): void {
    const p = binauralParams(azimuthRad, elevationRad, this.headRadiusM, SAMPLE_RATE_HZ);
    const t = this.target[v]!;
    t[1] = Math.min(HISTORY - 2, p.left.delaySamples);
    t[2] = Math.min(HISTORY - 2, p.right.delaySamples);
    t[3] = p.left.alpha;
    t[4] = p.right.alpha;
  }

  clearDirection(v: number): void {
    this.target[v]!.set([0, 0, 1, 1], 1);
  }

  /** Renders voices 0..`count`−1 (no limiter). */
  process(count: number): void {
    const n = this.frameSamples;
    this.left.fill(0);
    this.right.fill(0);
    for (let v = 0; v < count; v++) {
      const x = this.x[v]!;
      const hp = this.hp[v]!;
      let lp = this.lp[v]!;
      for (let i = HISTORY; i < HISTORY + n; i++) {
        lp = this.b * (x[i]! + x[i - 1]!) - this.a1 * lp;
        hp[i] = x[i]! - lp;
      }
      this.lp[v] = Math.abs(lp) < 1e-20 ? 0 : lp;
      const t = this.target[v]!;
      const p = this.prev[v]!;
      if (p[0] !== 0 || t[0] !== 0) {
        this.ear(x, hp, this.left, p[0]!, t[0]!, p[1]!, t[1]!, p[3]!, t[3]!);
        this.ear(x, hp, this.right, p[0]!, t[0]!, p[2]!, t[2]!, p[4]!, t[4]!);
      }
      p.set(t);
      x.copyWithin(0, n, n + HISTORY);
      hp.copyWithin(0, n, n + HISTORY);
    }
    for (let i = 0; i < n; i++) this.mono[i] = 0.5 * (this.left[i]! + this.right[i]!);
  }

  private ear(
    x: Float32Array,
    hp: Float32Array,
    out: Float32Array,
    g0: number,
    g1: number,
    d0: number,
    d1: number,
    a0: number,
    a1: number,
  ): void {
    const n = this.frameSamples;
    const read = (s: Float32Array, d: number, i: number): number => {
      const k = Math.floor(d);
      const f = d - k;
      return (1 - f) * s[HISTORY + i - k]! + f * s[HISTORY + i - k - 1]!;
    };
    for (let i = 0; i < n; i++) {
      const c = (i + 1) / n;
      const rx = d0 === d1 ? read(x, d0, i) : (1 - c) * read(x, d0, i) + c * read(x, d1, i);
      const rh = d0 === d1 ? read(hp, d0, i) : (1 - c) * read(hp, d0, i) + c * read(hp, d1, i);
      const g = g0 + (g1 - g0) * c;
      const am1 = a0 - 1 + (a1 - a0) * c;
      out[i] = out[i]! + g * (rx + am1 * rh);
    }
  }
}
