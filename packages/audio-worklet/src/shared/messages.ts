import type {
  CaptureChainSources,
  CaptureStage,
  DenoiserModel,
  WasmSource,
} from '@concord/wasm-dsp';
import type { SampleRingHandle } from './SampleRing.js';

/** Registered name of the capture processor. */
export const CAPTURE_PROCESSOR = 'concord-capture';
/** Registered name of the playback processor. */
export const PLAYBACK_PROCESSOR = 'concord-playback';
/** Registered name of the tap processor (a remote WebRTC voice into the playback mix). */
export const TAP_PROCESSOR = 'concord-tap';

/** `processorOptions` of the tap processor. */
export interface TapProcessorOptions {
  /** The voice's 48 kHz ring, read by the playback processor (shared memory). */
  ring: SampleRingHandle;
  /** Resampler kernel, needed when the context does not run at 48 kHz. */
  resampler?: WasmSource;
}

/** Messages to the tap processor. */
export type TapCommand = { type: 'destroy' };

/** Messages from the tap processor. */
export type TapEvent =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | { type: 'counters'; counters: Record<string, number> };

/** `processorOptions` of the capture processor. */
export interface CaptureProcessorOptions {
  /** Compiled DSP modules (or bytes) for the chain. */
  sources: CaptureChainSources;
  /** Resampler kernel, needed when the context does not run at 48 kHz. */
  resampler?: WasmSource;
  /** Stages enabled at start. */
  stages: Record<CaptureStage, boolean>;
  /** RNNoise build. */
  nsModel: DenoiserModel;
  /** Far-end reference ring written by the playback processor (shared memory). */
  reference?: SampleRingHandle;
  /** Processed frames out (shared memory); without it frames are posted on the port. */
  frames?: SampleRingHandle;
  /** Start muted. */
  muted: boolean;
}

/** `processorOptions` of the playback processor. */
export interface PlaybackProcessorOptions {
  /** Mixer kernel. */
  mixer: WasmSource;
  /** Resampler kernel, needed when the context does not run at 48 kHz. */
  resampler?: WasmSource;
  /** Most remote streams. */
  maxStreams: number;
  /** Far-end reference ring for the capture processor (shared memory). */
  reference?: SampleRingHandle;
  /** An `AudioClock`'s buffer (shared memory), ticked once per render quantum. */
  clock?: SharedArrayBuffer;
  /** Spatial (binaural) kernel; without it the processor renders mono only. */
  spatial?: WasmSource;
}

/** Messages to the capture processor. */
export type CaptureCommand =
  | { type: 'setStage'; stage: CaptureStage; enabled: boolean }
  | { type: 'setMuted'; muted: boolean }
  | { type: 'destroy' };

/** Messages to the playback processor. */
export type PlaybackCommand =
  | { type: 'setStream'; slot: number; ring: SampleRingHandle | undefined }
  | { type: 'setGain'; slot: number; gain: number }
  /** `mono` (default): one mix on every channel; `binaural`: voices placed for headphones. */
  | { type: 'setRenderMode'; mode: 'mono' | 'binaural' }
  /** Places a voice (binaural mode), radians: azimuth 0 ahead, + to the left; elevation + up. */
  | { type: 'setDirection'; slot: number; azimuthRad: number; elevationRad: number }
  /** The voice plays centred and unfiltered again. */
  | { type: 'clearDirection'; slot: number }
  /** Fallback without shared memory: one 48 kHz PCM frame for `slot` (transferred). */
  | { type: 'push'; slot: number; samples: Float32Array }
  | { type: 'destroy' };

/** Histogram of processing time per render quantum: 10 µs bins from 0 to 5 ms (last bin: more). */
export const TIMING_BIN_US = 10;
/** Number of timing bins. */
export const TIMING_BINS = 500;

/** Counters and timing a processor posts a few times per second. */
export interface ProcessorStats {
  type: 'stats';
  /** Counters since creation (processor-specific names). */
  counters: Record<string, number>;
  /** Processing-time histogram per quantum since the last report (see {@link TIMING_BIN_US}). */
  timingHistogram: Uint32Array;
  /** Longest quantum since the last report, in µs. */
  maxUs: number;
}

/** Messages from the capture processor. */
export type CaptureEvent =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | ProcessorStats
  | {
      type: 'level';
      levelDbfs: number;
      speechProbability: number;
      speaking: boolean;
      muted: boolean;
    }
  /** Fallback without shared memory: one processed frame (transferred). */
  | {
      type: 'frame';
      seq: number;
      samples: Float32Array;
      levelDbfs: number;
      speechProbability: number;
      flags: number;
    };

/** Messages from the playback processor. */
export type PlaybackEvent = { type: 'ready' } | { type: 'error'; message: string } | ProcessorStats;
