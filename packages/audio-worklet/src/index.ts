export {
  RENDER_QUANTUM_FRAMES,
  SAMPLE_RATE_HZ,
  FRAME_MS,
  FRAME_SAMPLES,
  CAPTURE_FRAME_MS,
  CAPTURE_FRAME_SAMPLES,
} from './shared/constants.js';
export { SampleRing, type SampleRingHandle } from './shared/SampleRing.js';
export { AudioClock } from './shared/AudioClock.js';
export {
  FrameRing,
  FRAME_FLAG_MUTED,
  FRAME_FLAG_SPEAKING,
  FRAME_META_FLOATS,
  type FrameMeta,
} from './shared/FrameRing.js';
export {
  CAPTURE_PROCESSOR,
  PLAYBACK_PROCESSOR,
  TAP_PROCESSOR,
  TIMING_BIN_US,
  TIMING_BINS,
  type CaptureCommand,
  type CaptureEvent,
  type CaptureProcessorOptions,
  type PlaybackCommand,
  type PlaybackEvent,
  type PlaybackProcessorOptions,
  type ProcessorStats,
  type TapCommand,
  type TapEvent,
  type TapProcessorOptions,
} from './shared/messages.js';
export { TapEngine, type TapEngineOptions, type TapStats } from './tap/TapEngine.js';
export {
  CaptureEngine,
  type CaptureEngineOptions,
  type CaptureStats,
} from './capture/CaptureEngine.js';
export {
  PlaybackEngine,
  type PlaybackEngineOptions,
  type PlaybackRenderMode,
  type PlaybackStats,
} from './playback/PlaybackEngine.js';
