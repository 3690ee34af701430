/** Samples per Web Audio render quantum (fixed by the spec today). */
export const RENDER_QUANTUM_FRAMES = 128;
/** Sample rate of every DSP stage and of frames between threads, in Hz. */
export const SAMPLE_RATE_HZ = 48_000;
/** Duration of one Concord frame, in ms. */
export const FRAME_MS = 20;
/** Samples in one 20 ms frame at 48 kHz. */
export const FRAME_SAMPLES = 960;
