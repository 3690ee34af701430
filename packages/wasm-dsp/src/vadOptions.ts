import { SAMPLE_RATE_HZ } from './constants.js';

/** Settings of the energy voice-activity detector (level meter, VAD and AGC). */
export interface VadOptions {
  /** Speech-band SNR over the noise floor where the speech probability is 0.5, in dB (default 6). */
  thresholdDb?: number;
  /** Hold `speaking` this long after the last speech frame, in ms (default 300). */
  hangoverMs?: number;
  /** Speech-band level below which a frame is never speech, in dBFS (default −70). */
  speechFloorDbfs?: number;
  /** How fast the noise floor may rise, in dB per second (default 2). */
  noiseRiseDbPerSecond?: number;
}

/** Arguments of the kernels' `vadCoreConfigure`, in order. */
export type VadParams = [
  bandB0: number,
  bandA1: number,
  bandA2: number,
  thresholdDb: number,
  slopeDb: number,
  speechFloorDbfs: number,
  riseDbPerFrame: number,
  hangoverFrames: number,
];

/** Centre and Q of the speech-band filter (RBJ band-pass, 0 dB peak). */
const BAND_CENTRE_HZ = 1000;
const BAND_Q = 0.7;
/** Width of the SNR-to-probability logistic, in dB. */
const SLOPE_DB = 1.5;

/**
 * Validates {@link VadOptions} for frames of `frameSamples` at 48 kHz and returns the kernel's
 * parameters; the band-pass is R. Bristow-Johnson's "Audio EQ Cookbook" BPF (0 dB peak gain).
 * @throws {RangeError} naming the option that is out of range.
 */
export function vadParams(frameSamples: number, options: VadOptions = {}): VadParams {
  const thresholdDb = options.thresholdDb ?? 6;
  const hangoverMs = options.hangoverMs ?? 300;
  const speechFloorDbfs = options.speechFloorDbfs ?? -70;
  const rise = options.noiseRiseDbPerSecond ?? 2;
  if (!(thresholdDb >= 0 && thresholdDb <= 40)) {
    throw new RangeError(`vad.thresholdDb must be in [0, 40], got ${thresholdDb}`);
  }
  if (!(hangoverMs >= 0 && hangoverMs <= 5000)) {
    throw new RangeError(`vad.hangoverMs must be in [0, 5000], got ${hangoverMs}`);
  }
  if (!(speechFloorDbfs >= -120 && speechFloorDbfs <= 0)) {
    throw new RangeError(`vad.speechFloorDbfs must be in [-120, 0], got ${speechFloorDbfs}`);
  }
  if (!(rise > 0 && rise <= 100)) {
    throw new RangeError(`vad.noiseRiseDbPerSecond must be in (0, 100], got ${rise}`);
  }
  const frameSec = frameSamples / SAMPLE_RATE_HZ;
  const w0 = (2 * Math.PI * BAND_CENTRE_HZ) / SAMPLE_RATE_HZ;
  const alpha = Math.sin(w0) / (2 * BAND_Q);
  const a0 = 1 + alpha;
  return [
    alpha / a0,
    (-2 * Math.cos(w0)) / a0,
    (1 - alpha) / a0,
    thresholdDb,
    SLOPE_DB,
    speechFloorDbfs,
    rise * frameSec,
    Math.round(hangoverMs / 1000 / frameSec),
  ];
}
