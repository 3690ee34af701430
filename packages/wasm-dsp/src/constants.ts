/** Sample rate of every DSP stage, in Hz. */
export const SAMPLE_RATE_HZ = 48_000;
/** Duration of one Concord frame, in ms. */
export const FRAME_MS = 20;
/** Samples in one 20 ms frame at 48 kHz (mono). */
export const FRAME_SAMPLES = 960;
/** Samples in one RNNoise frame (10 ms at 48 kHz). */
export const RNNOISE_FRAME_SAMPLES = 480;
