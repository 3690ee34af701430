// Scalar TypeScript reference of the real FFT in assembly/lib/fft.ts: the same algorithm (a
// half-size complex radix-2 FFT on split re/im arrays plus the real-input split step), written
// plainly, so tests can check the SIMD kernel against it and benchmarks can time both.
// Real-FFT split formulas: W. H. Press et al., "Numerical Recipes", 3rd ed., §12.3.2.

/**
 * Real FFT/IFFT of a power-of-two size on plain `Float32Array`s (scalar, any thread).
 * `forward` is unscaled; `inverse` scales by 1/size, so `inverse(forward(x)) = x`.
 * Spectra use split arrays of `bins = size / 2 + 1` complex bins (DC … Nyquist).
 */
export class ReferenceFft {
  /** Transform length in samples (power of two, ≥ 16). */
  readonly size: number;
  /** Number of complex bins of a spectrum: `size / 2 + 1`. */
  readonly bins: number;
  private readonly half: number;
  private readonly rev: Uint32Array;
  private readonly twr: Float32Array;
  private readonly twi: Float32Array;
  private readonly splitR: Float32Array;
  private readonly splitI: Float32Array;
  private readonly zr: Float32Array;
  private readonly zi: Float32Array;

  /**
   * @param size transform length in samples, a power of two in [16, 65536].
   * @throws {RangeError} when `size` is not such a power of two.
   */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 16 || size > 65_536 || (size & (size - 1)) !== 0) {
      throw new RangeError(`size must be a power of two in [16, 65536], got ${size}`);
    }
    this.size = size;
    this.half = size >> 1;
    this.bins = this.half + 1;
    const n = this.half;
    this.rev = new Uint32Array(n);
    const bits = Math.log2(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    // Per-stage twiddles for the complex FFT, stage `len` stored at offset `len/2 - 1`.
    this.twr = new Float32Array(n);
    this.twi = new Float32Array(n);
    for (let len = 2; len <= n; len <<= 1) {
      const h = len >> 1;
      for (let j = 0; j < h; j++) {
        this.twr[h - 1 + j] = Math.cos((-2 * Math.PI * j) / len);
        this.twi[h - 1 + j] = Math.sin((-2 * Math.PI * j) / len);
      }
    }
    // Split-step twiddles e^{-2πik/size}, k = 0 … n.
    this.splitR = new Float32Array(n + 1);
    this.splitI = new Float32Array(n + 1);
    for (let k = 0; k <= n; k++) {
      this.splitR[k] = Math.cos((-2 * Math.PI * k) / size);
      this.splitI[k] = Math.sin((-2 * Math.PI * k) / size);
    }
    this.zr = new Float32Array(n);
    this.zi = new Float32Array(n);
  }

  /**
   * Forward real FFT of `input` (`size` samples) into `re`/`im` (≥ `bins` each), unscaled.
   * @throws {RangeError} when an array is too short.
   */
  forward(input: Float32Array, re: Float32Array, im: Float32Array): void {
    this.check(input.length >= this.size, 'input', this.size);
    this.check(re.length >= this.bins && im.length >= this.bins, 're/im', this.bins);
    const n = this.half;
    const { zr, zi, rev } = this;
    for (let m = 0; m < n; m++) {
      const r = rev[m]!;
      zr[r] = input[2 * m]!;
      zi[r] = input[2 * m + 1]!;
    }
    this.complexFft(false);
    // X[k] = (Z[k] + conj Z[n-k])/2 − i·e^{-2πik/N}·(Z[k] − conj Z[n-k])/2
    re[0] = zr[0]! + zi[0]!;
    im[0] = 0;
    re[n] = zr[0]! - zi[0]!;
    im[n] = 0;
    for (let k = 1; k < n; k++) {
      const ar = zr[k]!;
      const ai = zi[k]!;
      const br = zr[n - k]!;
      const bi = zi[n - k]!;
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi);
      const oi = -0.5 * (ar - br);
      const wr = this.splitR[k]!;
      const wi = this.splitI[k]!;
      re[k] = er + (or * wr - oi * wi);
      im[k] = ei + (or * wi + oi * wr);
    }
  }

  /**
   * Inverse real FFT of `re`/`im` (`bins` bins) into `output` (`size` samples), scaled by 1/size.
   * The imaginary parts of the DC and Nyquist bins are ignored.
   * @throws {RangeError} when an array is too short.
   */
  inverse(re: Float32Array, im: Float32Array, output: Float32Array): void {
    this.check(output.length >= this.size, 'output', this.size);
    this.check(re.length >= this.bins && im.length >= this.bins, 're/im', this.bins);
    const n = this.half;
    const { zr, zi, rev } = this;
    const scale = 1 / this.size;
    // Z[k] = Xe[k] + i·Xo[k], Xe = (X[k] + conj X[n-k]), Xo = (X[k] − conj X[n-k])·e^{+2πik/N}
    for (let k = 0; k < n; k++) {
      const ar = re[k]!;
      const ai = k === 0 ? 0 : im[k]!;
      const br = re[n - k]!;
      const bi = k === 0 ? 0 : -im[n - k]!;
      const er = ar + br;
      const ei = ai + bi;
      const dr = ar - br;
      const di = ai - bi;
      const wr = this.splitR[k]!;
      const wi = -this.splitI[k]!;
      const or = dr * wr - di * wi;
      const oi = dr * wi + di * wr;
      const r = rev[k]!;
      zr[r] = (er - oi) * scale;
      zi[r] = (ei + or) * scale;
    }
    this.complexFft(true);
    for (let m = 0; m < n; m++) {
      output[2 * m] = zr[m]!;
      output[2 * m + 1] = zi[m]!;
    }
  }

  // Iterative radix-2 decimation-in-time butterflies over bit-reversed input.
  private complexFft(inverse: boolean): void {
    const n = this.half;
    const { zr, zi, twr, twi } = this;
    const sign = inverse ? -1 : 1;
    for (let len = 2; len <= n; len <<= 1) {
      const h = len >> 1;
      for (let i = 0; i < n; i += len) {
        for (let j = 0; j < h; j++) {
          const wr = twr[h - 1 + j]!;
          const wi = sign * twi[h - 1 + j]!;
          const a = i + j;
          const b = a + h;
          const tr = zr[b]! * wr - zi[b]! * wi;
          const ti = zr[b]! * wi + zi[b]! * wr;
          zr[b] = zr[a]! - tr;
          zi[b] = zi[a]! - ti;
          zr[a] = zr[a]! + tr;
          zi[a] = zi[a]! + ti;
        }
      }
    }
  }

  private check(ok: boolean, name: string, min: number): void {
    if (!ok) throw new RangeError(`${name} must hold at least ${min} elements`);
  }
}
