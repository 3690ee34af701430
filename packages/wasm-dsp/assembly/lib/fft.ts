// Real FFT/IFFT of a power-of-two size for the echo canceller (shared AssemblyScript, not an
// entry). A real transform of `size` samples runs as a complex FFT of `size/2` points on split
// re/im arrays plus the real-input split step (Numerical Recipes 3rd ed., §12.3.2). The complex
// FFT is iterative radix-2 decimation in time over bit-reversed input; stages whose butterfly
// span is ≥ 4 run four butterflies at a time in f32x4, the two first stages run as one scalar
// radix-4 pass. The inverse uses conj(FFT(conj(Z))) so both directions share one twiddle table.
// Every buffer is allocated once in the constructor (stub runtime: nothing is ever freed).

@inline function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

@inline function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}

/** Allocates `count` zeroed f32 slots, 16-byte aligned. */
export function allocF32(count: i32): usize {
  const bytes = (<usize>count << 2) + 16;
  const raw = heap.alloc(bytes);
  memory.fill(raw, 0, bytes);
  return (raw + 15) & ~(<usize>15);
}

export class RealFft {
  /** Transform length in samples. */
  size: i32;
  /** Complex FFT length (`size / 2`). */
  half: i32;
  /** Complex bins of a spectrum: `size / 2 + 1`. */
  bins: i32;
  rev: usize;
  twr: usize;
  twi: usize;
  splitR: usize;
  splitI: usize;
  zr: usize;
  zi: usize;
  // Natural-order scratch of the inverse split step.
  tr: usize;
  ti: usize;

  constructor(size: i32) {
    this.size = size;
    const n = size >> 1;
    this.half = n;
    this.bins = n + 1;
    this.rev = allocF32(n);
    let bits = 0;
    while (1 << bits < n) bits++;
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      store<i32>(this.rev + (<usize>i << 2), r);
    }
    this.twr = allocF32(n);
    this.twi = allocF32(n);
    for (let len = 2; len <= n; len <<= 1) {
      const h = len >> 1;
      for (let j = 0; j < h; j++) {
        const a = (-2.0 * Math.PI * <f64>j) / <f64>len;
        stf(this.twr, h - 1 + j, <f32>Math.cos(a));
        stf(this.twi, h - 1 + j, <f32>Math.sin(a));
      }
    }
    this.splitR = allocF32(n + 1);
    this.splitI = allocF32(n + 1);
    for (let k = 0; k <= n; k++) {
      const a = (-2.0 * Math.PI * <f64>k) / <f64>size;
      stf(this.splitR, k, <f32>Math.cos(a));
      stf(this.splitI, k, <f32>Math.sin(a));
    }
    this.zr = allocF32(n);
    this.zi = allocF32(n);
    this.tr = allocF32(n);
    this.ti = allocF32(n);
  }

  /** Forward real FFT of `size` samples at `input` into `bins` bins at `re`/`im`, unscaled. */
  forward(input: usize, re: usize, im: usize): void {
    const n = this.half;
    const zr = this.zr;
    const zi = this.zi;
    // z[m] = x[2m] + i·x[2m+1], gathered in bit-reversed order by the first pass.
    this.complexFft(input, input + 4, 3);
    const z0r = ldf(zr, 0);
    const z0i = ldf(zi, 0);
    stf(re, 0, z0r + z0i);
    stf(im, 0, 0);
    stf(re, n, z0r - z0i);
    stf(im, n, 0);
    // Bins k and n−k come from the same pair Z[k], Z[n−k]: with E = (Z[k] + conj Z[n−k])/2,
    // O = −i(Z[k] − conj Z[n−k])/2 and T = e^{−2πik/N}·O, X[k] = E + T and X[n−k] = conj(E − T).
    // Four k at a time, the mirrored lanes loaded and stored reversed (n ≥ 8, i.e. size ≥ 16, keeps it in range).
    const half = f32x4.splat(0.5);
    const nb = <usize>n << 2;
    for (let k = 1; k <= n >> 1; k += 4) {
      const kb = <usize>k << 2;
      const mb = nb - kb - 12;
      const ar = v128.load(zr + kb);
      const ai = v128.load(zi + kb);
      const br = v128.shuffle<f32>(v128.load(zr + mb), v128.load(zr + mb), 3, 2, 1, 0);
      const bi = v128.shuffle<f32>(v128.load(zi + mb), v128.load(zi + mb), 3, 2, 1, 0);
      const er = f32x4.mul(half, f32x4.add(ar, br));
      const ei = f32x4.mul(half, f32x4.sub(ai, bi));
      const or = f32x4.mul(half, f32x4.add(ai, bi));
      const oi = f32x4.mul(half, f32x4.sub(br, ar));
      const wr = v128.load(this.splitR + kb);
      const wi = v128.load(this.splitI + kb);
      const tr = f32x4.sub(f32x4.mul(or, wr), f32x4.mul(oi, wi));
      const ti = f32x4.add(f32x4.mul(or, wi), f32x4.mul(oi, wr));
      v128.store(re + kb, f32x4.add(er, tr));
      v128.store(im + kb, f32x4.add(ei, ti));
      const mr = f32x4.sub(er, tr);
      const mi = f32x4.sub(ti, ei);
      v128.store(re + mb, v128.shuffle<f32>(mr, mr, 3, 2, 1, 0));
      v128.store(im + mb, v128.shuffle<f32>(mi, mi, 3, 2, 1, 0));
    }
  }

  /**
   * Inverse real FFT of `bins` bins at `re`/`im` into `size` samples at `output`, scaled by
   * 1/size. Imaginary parts of DC and Nyquist are ignored.
   */
  inverse(re: usize, im: usize, output: usize): void {
    const n = this.half;
    const zr = this.zr;
    const zi = this.zi;
    const rev = this.rev;
    const scale: f32 = 1.0 / <f32>this.size;
    const tr = this.tr;
    const ti = this.ti;
    // Z[k] = (X[k] + conj X[n−k]) + i·(X[k] − conj X[n−k])·e^{+2πik/N}, and Z[n−k] is the same
    // with both terms conjugated; Z is stored conjugated (conj(FFT(conj Z)) = n·IFFT(Z)).
    {
      const ar = ldf(re, 0);
      const br = ldf(re, n);
      const er = ar + br;
      const dr = ar - br;
      // k = 0: e^{0} = 1, imaginary parts of DC and Nyquist ignored.
      stf(tr, 0, er * scale);
      stf(ti, 0, -dr * scale);
    }
    const vs = f32x4.splat(scale);
    const nb = <usize>n << 2;
    for (let k = 1; k <= n >> 1; k += 4) {
      const kb = <usize>k << 2;
      const mb = nb - kb - 12;
      const ar = v128.load(re + kb);
      const ai = v128.load(im + kb);
      const br = v128.shuffle<f32>(v128.load(re + mb), v128.load(re + mb), 3, 2, 1, 0);
      const bi = f32x4.neg(v128.shuffle<f32>(v128.load(im + mb), v128.load(im + mb), 3, 2, 1, 0));
      const er = f32x4.add(ar, br);
      const ei = f32x4.add(ai, bi);
      const dr = f32x4.sub(ar, br);
      const di = f32x4.sub(ai, bi);
      const wr = v128.load(this.splitR + kb);
      const wi = f32x4.neg(v128.load(this.splitI + kb));
      const or = f32x4.sub(f32x4.mul(dr, wr), f32x4.mul(di, wi));
      const oi = f32x4.add(f32x4.mul(dr, wi), f32x4.mul(di, wr));
      v128.store(tr + kb, f32x4.mul(f32x4.sub(er, oi), vs));
      v128.store(ti + kb, f32x4.mul(f32x4.neg(f32x4.add(ei, or)), vs));
      const mr = f32x4.mul(f32x4.add(er, oi), vs);
      const mi = f32x4.mul(f32x4.sub(ei, or), vs);
      v128.store(tr + mb, v128.shuffle<f32>(mr, mr, 3, 2, 1, 0));
      v128.store(ti + mb, v128.shuffle<f32>(mi, mi, 3, 2, 1, 0));
    }
    this.complexFft(tr, ti, 2);
    for (let m = 0; m < n; m++) {
      stf(output, 2 * m, ldf(zr, m));
      stf(output, 2 * m + 1, -ldf(zi, m));
    }
  }

  // Forward complex FFT of the n points at srcR/srcI (element i at byte offset i << shift) into
  // zr/zi in natural order. The first pass gathers in bit-reversed order, so no separate
  // permutation pass is needed.
  private complexFft(srcR: usize, srcI: usize, shift: i32): void {
    const n = this.half;
    const zr = this.zr;
    const zi = this.zi;
    const rev = this.rev;
    const q1 = <usize>(n >> 2) << shift;
    const q2 = <usize>(n >> 1) << shift;
    const q3 = q1 + q2;
    // Stages of span 1 and 2 as one radix-4 pass (twiddles 1 and −i) on four lanes:
    // [a0 a1 a2 a3] → [s0 d0 s1 d1] (s = a0+a1 / a2+a3, d = differences) → outputs
    // [s0+s1, d0−i·d1, s0−s1, d0+i·d1].
    const pm = f32x4(1, -1, 1, -1);
    const pr = f32x4(1, 1, -1, -1);
    const pi = f32x4(1, -1, -1, 1);
    const nb = <usize>n << 2;
    for (let o: usize = 0; o < nb; o += 16) {
      // Positions i…i+3 hold bit-reversed indices r, r + n/2, r + n/4, r + 3n/4.
      const r = <usize>load<i32>(rev + o) << shift;
      const gr = srcR + r;
      const gi = srcI + r;
      const vr = f32x4(load<f32>(gr), load<f32>(gr + q2), load<f32>(gr + q1), load<f32>(gr + q3));
      const vi = f32x4(load<f32>(gi), load<f32>(gi + q2), load<f32>(gi + q1), load<f32>(gi + q3));
      const tr = f32x4.add(
        v128.shuffle<f32>(vr, vr, 0, 0, 2, 2),
        f32x4.mul(v128.shuffle<f32>(vr, vr, 1, 1, 3, 3), pm),
      );
      const ti = f32x4.add(
        v128.shuffle<f32>(vi, vi, 0, 0, 2, 2),
        f32x4.mul(v128.shuffle<f32>(vi, vi, 1, 1, 3, 3), pm),
      );
      const ur = v128.shuffle<f32>(tr, tr, 0, 1, 0, 1);
      const ui = v128.shuffle<f32>(ti, ti, 0, 1, 0, 1);
      const wr = v128.shuffle<f32>(tr, ti, 2, 7, 2, 7);
      const wi = v128.shuffle<f32>(ti, tr, 2, 7, 2, 7);
      v128.store(zr + o, f32x4.add(ur, f32x4.mul(wr, pr)));
      v128.store(zi + o, f32x4.add(ui, f32x4.mul(wi, pi)));
    }
    const twr = this.twr;
    const twi = this.twi;
    let len = 8;
    // Pairs of radix-2 stages (spans h and 2h) fused into radix-4 butterflies: half the loads
    // and stores of two separate passes. W_{4h}^{j+h} = −i·W_{4h}^j needs no extra table.
    while (len * 2 <= n) {
      const h = len >> 1;
      const hb = <usize>h << 2;
      const t1r = twr + (<usize>(h - 1) << 2);
      const t1i = twi + (<usize>(h - 1) << 2);
      const t2r = twr + (<usize>(2 * h - 1) << 2);
      const t2i = twi + (<usize>(2 * h - 1) << 2);
      for (let i = 0; i < n; i += 4 * h) {
        const pr = zr + (<usize>i << 2);
        const pi = zi + (<usize>i << 2);
        for (let j: usize = 0; j < hb; j += 16) {
          const w1r = v128.load(t1r + j);
          const w1i = v128.load(t1i + j);
          const w2r = v128.load(t2r + j);
          const w2i = v128.load(t2i + j);
          const x0r = v128.load(pr + j);
          const x0i = v128.load(pi + j);
          const x1r = v128.load(pr + hb + j);
          const x1i = v128.load(pi + hb + j);
          const x2r = v128.load(pr + 2 * hb + j);
          const x2i = v128.load(pi + 2 * hb + j);
          const x3r = v128.load(pr + 3 * hb + j);
          const x3i = v128.load(pi + 3 * hb + j);
          const s1r = f32x4.sub(f32x4.mul(x1r, w1r), f32x4.mul(x1i, w1i));
          const s1i = f32x4.add(f32x4.mul(x1r, w1i), f32x4.mul(x1i, w1r));
          const s3r = f32x4.sub(f32x4.mul(x3r, w1r), f32x4.mul(x3i, w1i));
          const s3i = f32x4.add(f32x4.mul(x3r, w1i), f32x4.mul(x3i, w1r));
          const a0r = f32x4.add(x0r, s1r);
          const a0i = f32x4.add(x0i, s1i);
          const a1r = f32x4.sub(x0r, s1r);
          const a1i = f32x4.sub(x0i, s1i);
          const a2r = f32x4.add(x2r, s3r);
          const a2i = f32x4.add(x2i, s3i);
          const a3r = f32x4.sub(x2r, s3r);
          const a3i = f32x4.sub(x2i, s3i);
          const u2r = f32x4.sub(f32x4.mul(a2r, w2r), f32x4.mul(a2i, w2i));
          const u2i = f32x4.add(f32x4.mul(a2r, w2i), f32x4.mul(a2i, w2r));
          const u3r = f32x4.sub(f32x4.mul(a3r, w2r), f32x4.mul(a3i, w2i));
          const u3i = f32x4.add(f32x4.mul(a3r, w2i), f32x4.mul(a3i, w2r));
          // v3 = −i·u3 = (u3i, −u3r)
          v128.store(pr + j, f32x4.add(a0r, u2r));
          v128.store(pi + j, f32x4.add(a0i, u2i));
          v128.store(pr + 2 * hb + j, f32x4.sub(a0r, u2r));
          v128.store(pi + 2 * hb + j, f32x4.sub(a0i, u2i));
          v128.store(pr + hb + j, f32x4.add(a1r, u3i));
          v128.store(pi + hb + j, f32x4.sub(a1i, u3r));
          v128.store(pr + 3 * hb + j, f32x4.sub(a1r, u3i));
          v128.store(pi + 3 * hb + j, f32x4.add(a1i, u3r));
        }
      }
      len <<= 2;
    }
    if (len <= n) {
      const h = len >> 1;
      const tr = twr + (<usize>(h - 1) << 2);
      const ti = twi + (<usize>(h - 1) << 2);
      const hb = <usize>h << 2;
      for (let i = 0; i < n; i += len) {
        const pr = zr + (<usize>i << 2);
        const pi = zi + (<usize>i << 2);
        for (let j: usize = 0; j < hb; j += 16) {
          const wr = v128.load(tr + j);
          const wi = v128.load(ti + j);
          const ar = v128.load(pr + j);
          const ai = v128.load(pi + j);
          const br = v128.load(pr + hb + j);
          const bi = v128.load(pi + hb + j);
          const xr = f32x4.sub(f32x4.mul(br, wr), f32x4.mul(bi, wi));
          const xi = f32x4.add(f32x4.mul(br, wi), f32x4.mul(bi, wr));
          v128.store(pr + hb + j, f32x4.sub(ar, xr));
          v128.store(pi + hb + j, f32x4.sub(ai, xi));
          v128.store(pr + j, f32x4.add(ar, xr));
          v128.store(pi + j, f32x4.add(ai, xi));
        }
      }
    }
  }
}
