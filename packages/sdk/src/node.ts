// @concord/sdk/node: audio in and out for Node apps and bots — a frame source from PCM or WAV
// files and a playback sink that records each participant. Node only (reads and writes files):
// never part of the browser bundle, which is built from ./index.ts.
export {
  PcmSource,
  resampleTo48k,
  DEFAULT_VOICE_ACTIVITY_DBFS,
  type PcmSourceEvents,
  type PcmSourceOptions,
} from './node/PcmSource.js';
export {
  ParticipantRecorder,
  type ParticipantRecorderEvents,
  type ParticipantRecorderOptions,
} from './node/ParticipantRecorder.js';
export { readWavFile, writeWavFile } from './node/wavFiles.js';
