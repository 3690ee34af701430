/** Samples per Web Audio render quantum (fixed by the spec today). */
export const RENDER_QUANTUM_FRAMES = 128;
// The DSP core owns the frame facts (sample rate, frame length); re-exported here for the
// threads that move frames around.
export {
  CAPTURE_FRAME_MS,
  CAPTURE_FRAME_SAMPLES,
  FRAME_MS,
  FRAME_SAMPLES,
  SAMPLE_RATE_HZ,
} from '@concord/wasm-dsp';
