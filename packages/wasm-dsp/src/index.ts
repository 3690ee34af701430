export { DspError, type DspErrorCode } from './DspError.js';
export * from './constants.js';
export {
  instantiateKernelSync,
  loadKernel,
  readKernelBytes,
  type KernelName,
  type WasmSource,
} from './wasmLoader.js';
export { compileKernel } from './kernelModule.js';
export { decodeWav, encodeWav, MAX_WAV_DATA_BYTES, type WavData, type WavEncoding } from './wav.js';
export { Mixer, type MixerOptions } from './Mixer.js';
export type { LimiterOptions } from './limiterOptions.js';
export { Spatializer, type SpatializerOptions } from './Spatializer.js';
export {
  binauralParams,
  earAngles,
  earDelaySeconds,
  headShadowAlpha,
  shadowLowPass,
  DEFAULT_HEAD_RADIUS_M,
  SPEED_OF_SOUND_M_PER_S,
  type BinauralParams,
  type EarParams,
} from './spatialModel.js';
export { Resampler, type ResamplerOptions } from './Resampler.js';
export { designResampler, type ResamplerDesign } from './resamplerDesign.js';
export { Fft, type FftOptions } from './Fft.js';
export { EchoCanceller, type EchoCancellerOptions } from './EchoCanceller.js';
export { Agc, type AgcOptions } from './Agc.js';
export { TimeStretcher, type TimeStretchAction } from './TimeStretcher.js';
export {
  TSM_HISTORY_SAMPLES,
  TSM_MAX_INPUT_SAMPLES,
  TSM_MAX_PERIOD_SAMPLES,
  TSM_MIN_OVERLAP_SAMPLES,
  TSM_MIN_PERIOD_SAMPLES,
  type TimeStretcherOptions,
  type TimeStretchOutcome,
} from './tsmOptions.js';
export {
  VoiceActivityDetector,
  type VoiceActivityDetectorOptions,
} from './VoiceActivityDetector.js';
export type { VadOptions } from './vadOptions.js';
export {
  Denoiser,
  DEFAULT_DENOISER_MODEL,
  DENOISER_DELAY_SAMPLES,
  type DenoiserOptions,
} from './Denoiser.js';
export {
  parseRnnoiseGlue,
  readRnnoiseSource,
  SIMD_RNNOISE_NAMES,
  simdRnnoiseSource,
  wasmSimdSupported,
  type ReadRnnoiseOptions,
  type DenoiserModel,
  type RnnoiseExportNames,
  type RnnoiseWasmSource,
} from './RnnoiseWasm.js';
export {
  CAPTURE_FRAME_MS,
  CAPTURE_FRAME_SAMPLES,
  FRAME_MS,
  FRAME_SAMPLES,
  RNNOISE_FRAME_SAMPLES,
  SAMPLE_RATE_HZ,
} from './constants.js';
export {
  CAPTURE_STAGES,
  CaptureChain,
  HALF_FRAME_SAMPLES,
  type CaptureChainOptions,
  type CaptureChainSources,
  type CaptureFrameReport,
  type CaptureStage,
} from './CaptureChain.js';
export {
  WasmOpusEncoder,
  OPUS_MAX_PACKET_BYTES,
  type WasmOpusEncoderOptions,
} from './opus/WasmOpusEncoder.js';
export {
  WasmOpusDecoder,
  OPUS_MAX_DECODE_PACKET_BYTES,
  type WasmOpusDecoderOptions,
} from './opus/WasmOpusDecoder.js';
export {
  DEFAULT_OPUS_ENCODER_SETTINGS,
  validateOpusEncoderSettings,
  type OpusDecoderApi,
  type OpusEncoderApi,
  type OpusEncoderSettings,
  type OpusFrameMs,
  type OpusPacketSink,
} from './opus/opusTypes.js';
export {
  opusWasmFileName,
  opusWasmSimdSupported,
  readOpusWasm,
  type OpusWasmFlavor,
  type OpusWasmSource,
} from './opus/OpusWasm.js';
