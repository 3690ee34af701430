// Frame level meter and energy voice-activity detector, shared by the vad and agc kernels.
//
// Level: RMS and peak of the raw frame in dBFS (1.0 RMS = 0 dBFS). Voice activity: the frame's
// energy in the speech band (an RBJ band-pass biquad centred on 1 kHz, Q 0.7 — about −10 dB of
// white noise, little of voiced speech) against a noise floor that follows every dip at once and
// rises slowly (a minimum tracker, after R. Martin, "Noise power spectral density estimation
// based on optimal smoothing and minimum statistics", IEEE TSAP 2001, reduced to one band).
// The band SNR maps to a probability through a logistic; a caller may pass its own probability
// (RNNoise's VAD output) instead. A hangover keeps `speaking` up through short pauses.
//
// Everything per frame is f64 scalar, mirrored operation for operation by the TS reference
// (src/reference/ScalarVad.ts); only log10/exp come from different libraries (AssemblyScript's
// vs V8's), so the two agree to ~1e-12 dB.

const LEVEL_FLOOR_DBFS: f64 = -120.0;

// Band-pass coefficients (normalised by a0) and state.
let b0: f64 = 0, b2: f64 = 0, a1: f64 = 0, a2: f64 = 0;
let z1: f64 = 0, z2: f64 = 0;

// Parameters.
let thresholdDb: f64 = 6.0;
let slopeDb: f64 = 1.5;
let speechFloorDbfs: f64 = -70.0;
let noiseRiseDbPerFrame: f64 = 0.04;
let hangoverFrames: i32 = 15;

// State.
let noiseDbfs: f64 = 0;
let started: bool = false;
let hangoverLeft: i32 = 0;

// Results of the last frame.
let levelDbfs: f64 = LEVEL_FLOOR_DBFS;
let peakDbfs: f64 = LEVEL_FLOOR_DBFS;
let bandDbfs: f64 = LEVEL_FLOOR_DBFS;
let probability: f64 = 0;
let speaking: bool = false;

export function vadCoreConfigure(
  bandB0: f64,
  bandA1: f64,
  bandA2: f64,
  threshold: f64,
  slope: f64,
  speechFloor: f64,
  riseDbPerFrame: f64,
  hangover: i32,
): void {
  b0 = bandB0;
  b2 = -bandB0;
  a1 = bandA1;
  a2 = bandA2;
  thresholdDb = threshold;
  slopeDb = slope;
  speechFloorDbfs = speechFloor;
  noiseRiseDbPerFrame = riseDbPerFrame;
  hangoverFrames = hangover;
}

export function vadCoreReset(): void {
  z1 = 0;
  z2 = 0;
  noiseDbfs = 0;
  started = false;
  hangoverLeft = 0;
  levelDbfs = LEVEL_FLOOR_DBFS;
  peakDbfs = LEVEL_FLOOR_DBFS;
  bandDbfs = LEVEL_FLOOR_DBFS;
  probability = 0;
  speaking = false;
}

// @ts-ignore: decorator
@inline
function toDb(power: f64): f64 {
  return power > 1e-12 ? Math.max(10.0 * Math.log10(power), LEVEL_FLOOR_DBFS) : LEVEL_FLOOR_DBFS;
}

/**
 * Measures one frame at `ptr`; `external` in [0, 1] replaces the energy detector's probability,
 * a negative value keeps it. Returns the frame's mean square (the AGC needs it).
 */
export function vadCoreProcess(ptr: usize, samples: i32, external: f64): f64 {
  let sum: f64 = 0;
  let band: f64 = 0;
  let peak: f64 = 0;
  let s1 = z1, s2 = z2;
  for (let i = 0; i < samples; i++) {
    const x = <f64>load<f32>(ptr + (<usize>i << 2));
    sum += x * x;
    const a = Math.abs(x);
    if (a > peak) peak = a;
    // Transposed direct form II; b1 = 0 for the band-pass.
    const y = b0 * x + s1;
    s1 = s2 - a1 * y;
    s2 = b2 * x - a2 * y;
    band += y * y;
  }
  // Denormals and silence: keep the recursion from crawling through subnormals.
  z1 = Math.abs(s1) < 1e-30 ? 0 : s1;
  z2 = Math.abs(s2) < 1e-30 ? 0 : s2;
  const n = <f64>samples;
  const meanSquare = sum / n;
  levelDbfs = toDb(meanSquare);
  peakDbfs = toDb(peak * peak);
  bandDbfs = toDb(band / n);

  if (!started) {
    noiseDbfs = bandDbfs;
    started = true;
  } else if (bandDbfs < noiseDbfs) {
    noiseDbfs = bandDbfs;
  } else {
    noiseDbfs += Math.min(bandDbfs - noiseDbfs, noiseRiseDbPerFrame);
  }

  if (external >= 0) {
    probability = Math.min(external, 1.0);
  } else if (bandDbfs < speechFloorDbfs) {
    probability = 0;
  } else {
    probability = 1.0 / (1.0 + Math.exp((thresholdDb - (bandDbfs - noiseDbfs)) / slopeDb));
  }

  if (probability >= 0.5) {
    speaking = true;
    hangoverLeft = hangoverFrames;
  } else if (hangoverLeft > 0) {
    hangoverLeft--;
  } else {
    speaking = false;
  }
  return meanSquare;
}

export function vadCoreLevelDbfs(): f64 {
  return levelDbfs;
}
export function vadCorePeakDbfs(): f64 {
  return peakDbfs;
}
export function vadCoreNoiseDbfs(): f64 {
  return noiseDbfs;
}
export function vadCoreBandDbfs(): f64 {
  return bandDbfs;
}
export function vadCoreProbability(): f64 {
  return probability;
}
export function vadCoreSpeaking(): bool {
  return speaking;
}
