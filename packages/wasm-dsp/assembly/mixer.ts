// Mixer kernel: N streams × frame samples, each with its own gain, summed into one output,
// then the shared soft-knee limiter (lib/limiter.ts) so a loud room never clips.
//
// Memory (allocated once by init): inputs [stream][sample] f32, gains f32[streams],
// previous gains f32[streams], output f32[samples]. A gain that changed since the last call is
// ramped linearly across the frame (no zipper noise); a stream whose gain is and was 0 is skipped.
// Streams are accumulated in order, one rounding per multiply and per add, exactly as the scalar
// reference (src/reference/ScalarMixer.ts) does, so the two agree bit for bit.
import { limit, limiterInit } from './lib/limiter';
export {
  limiterConfigure,
  limiterReset,
  limiterGain,
  limiterTakeMinGain,
} from './lib/limiter';

let streamCapacity: i32 = 0;
let frameSamples: i32 = 0;
let inputs: usize = 0;
let gains: usize = 0;
let previousGains: usize = 0;
let output: usize = 0;

/** Allocates buffers for `streams` inputs of `samples` (a multiple of 32) each. Call once. */
export function init(streams: i32, samples: i32): void {
  streamCapacity = streams;
  frameSamples = samples;
  inputs = heap.alloc(<usize>(streams * samples) << 2);
  gains = heap.alloc(<usize>streams << 2);
  previousGains = heap.alloc(<usize>streams << 2);
  output = heap.alloc(<usize>samples << 2);
  for (let i = 0; i < streams; i++) {
    store<f32>(gains + (<usize>i << 2), 1);
    store<f32>(previousGains + (<usize>i << 2), 1);
  }
  memory.fill(inputs, 0, <usize>(streams * samples) << 2);
  memory.fill(output, 0, <usize>samples << 2);
  limiterInit();
}

export function inputsPtr(): usize {
  return inputs;
}
export function gainsPtr(): usize {
  return gains;
}
export function previousGainsPtr(): usize {
  return previousGains;
}
export function outputPtr(): usize {
  return output;
}

/** Mixes the first `count` streams into the output; limits it when `limited`. */
export function mix(count: i32, limited: bool): void {
  const n = frameSamples;
  const bytes = <usize>n << 2;
  let first = true;
  let s = 0;
  while (s < count) {
    const g = load<f32>(gains + (<usize>s << 2));
    const gp = load<f32>(previousGains + (<usize>s << 2));
    if (g == 0 && gp == 0) {
      s++;
      continue;
    }
    if (g != gp) {
      rampStream(inputs + <usize>s * bytes, gp, (g - gp) / <f32>n, bytes, first);
      store<f32>(previousGains + (<usize>s << 2), g);
      first = false;
      s++;
      continue;
    }
    // Up to 4 consecutive steady streams in one pass: acc + a + b + c + d rounds exactly as
    // four passes would, with a quarter of the output loads and stores.
    let k = 1;
    let s1 = s, s2 = s, s3 = s;
    let t = s + 1;
    while (k < 4 && t < count) {
      const gt = load<f32>(gains + (<usize>t << 2));
      const gpt = load<f32>(previousGains + (<usize>t << 2));
      if (gt != gpt) break;
      if (gt != 0) {
        if (k == 1) s1 = t;
        else if (k == 2) s2 = t;
        else s3 = t;
        k++;
      }
      t++;
    }
    if (k == 4) {
      steady4(s, s1, s2, s3, bytes, first);
    } else {
      steady1(s, bytes, first);
      if (k > 1) steady1(s1, bytes, false);
      if (k > 2) steady1(s2, bytes, false);
    }
    first = false;
    s = t;
  }
  if (first) memory.fill(output, 0, bytes);
  if (limited) limit(output, n);
}

function steady1(s: i32, bytes: usize, first: bool): void {
  const x = inputs + <usize>s * bytes;
  const gv = f32x4.splat(load<f32>(gains + (<usize>s << 2)));
  if (first) {
    for (let i: usize = 0; i < bytes; i += 32) {
      v128.store(output + i, f32x4.mul(gv, v128.load(x + i)));
      v128.store(output + i, f32x4.mul(gv, v128.load(x + i, 16)), 16);
    }
  } else {
    for (let i: usize = 0; i < bytes; i += 32) {
      const a = f32x4.add(v128.load(output + i), f32x4.mul(gv, v128.load(x + i)));
      const b = f32x4.add(v128.load(output + i, 16), f32x4.mul(gv, v128.load(x + i, 16)));
      v128.store(output + i, a);
      v128.store(output + i, b, 16);
    }
  }
}

function steady4(s0: i32, s1: i32, s2: i32, s3: i32, bytes: usize, first: bool): void {
  const x0 = inputs + <usize>s0 * bytes;
  const x1 = inputs + <usize>s1 * bytes;
  const x2 = inputs + <usize>s2 * bytes;
  const x3 = inputs + <usize>s3 * bytes;
  const g0 = f32x4.splat(load<f32>(gains + (<usize>s0 << 2)));
  const g1 = f32x4.splat(load<f32>(gains + (<usize>s1 << 2)));
  const g2 = f32x4.splat(load<f32>(gains + (<usize>s2 << 2)));
  const g3 = f32x4.splat(load<f32>(gains + (<usize>s3 << 2)));
  const out = output;
  if (first) {
    for (let i: usize = 0; i < bytes; i += 16) {
      let acc = f32x4.mul(g0, v128.load(x0 + i));
      acc = f32x4.add(acc, f32x4.mul(g1, v128.load(x1 + i)));
      acc = f32x4.add(acc, f32x4.mul(g2, v128.load(x2 + i)));
      v128.store(out + i, f32x4.add(acc, f32x4.mul(g3, v128.load(x3 + i))));
    }
  } else {
    for (let i: usize = 0; i < bytes; i += 16) {
      let acc = f32x4.add(v128.load(out + i), f32x4.mul(g0, v128.load(x0 + i)));
      acc = f32x4.add(acc, f32x4.mul(g1, v128.load(x1 + i)));
      acc = f32x4.add(acc, f32x4.mul(g2, v128.load(x2 + i)));
      v128.store(out + i, f32x4.add(acc, f32x4.mul(g3, v128.load(x3 + i))));
    }
  }
}

// Gain gp + step * (k + 1) for sample k: the new gain is reached at the frame's end.
function rampStream(x: usize, gp: f32, step: f32, bytes: usize, first: bool): void {
  const base = f32x4.splat(gp);
  const stepv = f32x4.splat(step);
  const four = f32x4.splat(4);
  let k = f32x4(1, 2, 3, 4);
  for (let i: usize = 0; i < bytes; i += 16) {
    const y = f32x4.mul(f32x4.add(base, f32x4.mul(stepv, k)), v128.load(x + i));
    v128.store(output + i, first ? y : f32x4.add(v128.load(output + i), y));
    k = f32x4.add(k, four);
  }
}
