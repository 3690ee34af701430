/** Sample rate of every DSP stage, in Hz. */
export const SAMPLE_RATE_HZ = 48_000;
/** Duration of the longest Concord packet and of a playback frame, in ms. */
export const FRAME_MS = 20;
/** Samples in one 20 ms frame at 48 kHz (mono). */
export const FRAME_SAMPLES = 960;
/**
 * Duration of one captured frame, in ms: the capture chain steps and the capture worklet hands
 * over 10 ms frames, and the sender packs one or two of them into each Opus packet.
 */
export const CAPTURE_FRAME_MS = 10;
/** Samples in one captured 10 ms frame at 48 kHz (mono). */
export const CAPTURE_FRAME_SAMPLES = 480;
/** Samples in one RNNoise frame (10 ms at 48 kHz). */
export const RNNOISE_FRAME_SAMPLES = 480;
