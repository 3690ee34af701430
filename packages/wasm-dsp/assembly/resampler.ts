// Resampler kernel: rational-ratio polyphase FIR (windowed sinc, designed in TS by
// src/resamplerDesign.ts), streaming with state across calls.
//
// Output k sits at input time k·M/L. With the prototype h (L·T taps) split into L phases of T
// taps, output k = Σ_j h[p + jL] · x[i − j] for i = ⌊kM/L⌋, p = kM mod L (the textbook
// polyphase interpolator/decimator: Crochiere & Rabiner, "Multirate Digital Signal
// Processing", 1983, ch. 3). Each phase is stored reversed, so an output is one contiguous
// f32x4 dot product of T taps against the T newest input samples.
//
// Memory (allocated once by init): coefficients f32[L][T], a line of T − 1 history samples
// followed by the new input, and the output.

let phases: i32 = 0; // L
let stepWhole: i32 = 0; // ⌊M / L⌋
let stepFrac: i32 = 0; // M mod L
let taps: i32 = 0; // T, a multiple of 8
let maxInput: i32 = 0;
let coeffs: usize = 0;
let line: usize = 0;
let output: usize = 0;
// Phase of the next output and the index (relative to the next block's first new sample) of
// the newest input sample it needs.
let phase: i32 = 0;
let next: i32 = 0;

/** Allocates for `l` phases of `t` taps, `m` input samples per L outputs, ≤ `inputs` per call. */
export function init(l: i32, m: i32, t: i32, inputs: i32): void {
  phases = l;
  stepWhole = m / l;
  stepFrac = m % l;
  taps = t;
  maxInput = inputs;
  coeffs = heap.alloc(<usize>(l * t) << 2);
  line = heap.alloc(<usize>(t - 1 + inputs) << 2);
  output = heap.alloc(<usize>maxOutput() << 2);
  reset();
}

/** Most outputs one call can produce. */
export function maxOutput(): i32 {
  return <i32>((<i64>maxInput * phases) / (stepWhole * phases + stepFrac)) + 2;
}

export function coeffsPtr(): usize {
  return coeffs;
}
export function inputPtr(): usize {
  return line + (<usize>(taps - 1) << 2);
}
export function outputPtr(): usize {
  return output;
}

/** Clears the history (silence) and restarts the phase. */
export function reset(): void {
  memory.fill(line, 0, <usize>(taps - 1 + maxInput) << 2);
  phase = 0;
  next = 0;
}

/** Consumes `n` new input samples; returns how many outputs were written. */
export function process(n: i32): i32 {
  const t = taps;
  const rowBytes = <usize>t << 2;
  let count = 0;
  let ph = phase;
  let at = next;
  while (at < n) {
    const w = line + (<usize>at << 2);
    const h = coeffs + <usize>ph * rowBytes;
    let acc0 = f32x4.splat(0);
    let acc1 = f32x4.splat(0);
    for (let j: usize = 0; j < rowBytes; j += 32) {
      acc0 = f32x4.add(acc0, f32x4.mul(v128.load(h + j), v128.load(w + j)));
      acc1 = f32x4.add(acc1, f32x4.mul(v128.load(h + j, 16), v128.load(w + j, 16)));
    }
    acc0 = f32x4.add(acc0, acc1);
    store<f32>(
      output + (<usize>count << 2),
      f32x4.extract_lane(acc0, 0) +
        f32x4.extract_lane(acc0, 1) +
        (f32x4.extract_lane(acc0, 2) + f32x4.extract_lane(acc0, 3)),
    );
    count++;
    at += stepWhole;
    ph += stepFrac;
    if (ph >= phases) {
      ph -= phases;
      at++;
    }
  }
  phase = ph;
  next = at - n;
  // Keep the T − 1 newest samples as the next call's history.
  memory.copy(line, line + (<usize>n << 2), <usize>(t - 1) << 2);
  return count;
}
