export * from './signals.js';
export * from './analysis.js';
export { decodeWav, encodeWav, writeWavFile, type WavData, type WavEncoding } from './wav.js';
export {
  chromiumLaunchOptions,
  DEBIAN_CHROMIUM,
  joinRoomInPage,
  type FakeMicrophoneOptions,
  type JoinRoomOptions,
} from './playwright.js';
export {
  medianIntervalMs,
  pairBurstLatencies,
  percentiles,
  type BurstLatency,
  type PairBurstOptions,
} from './burstTiming.js';
export {
  envelopeBurstLatencies,
  envelopeOriginMs,
  type EnvelopeBurstLatency,
  type EnvelopeLatencyOptions,
  type TimedEnvelope,
} from './envelopeLatency.js';
export {
  UdpImpairmentProxy,
  type UdpImpairment,
  type UdpImpairmentProxyOptions,
  type UdpImpairmentStats,
} from './udpImpairment.js';
export {
  judgeLatency,
  judgeSilence,
  judgeTone,
  type LatencyJudgement,
  type LatencyOptions,
  type Recording,
  type SilenceJudgement,
  type ToneJudgement,
  type ToneOptions,
} from './hearing.js';
