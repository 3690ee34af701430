// Signal analysis for the audio e2e specs (Node side): decoding what the page recorded, sine
// fits, levels and envelope alignment.

// Generic analysis lives in the public QA kit; the e2e specs import it through here.
export {
  alignToLoop,
  fitSine,
  fitSines,
  FRAME_SAMPLES,
  frameLevels,
  frameRms,
  measureFrequencyHz,
  powerMeanDb,
  SAMPLE_RATE_HZ,
  snrDb,
  zeroCrossings,
} from '@concord/testing';

/** What `audioHarness.collect()` returns. */
export interface Recording {
  startFrame: number;
  samples: string;
  seq: number[];
  flags: number[];
  levelDbfs: number[];
  events: HarnessEvent[];
}

/** An event the page recorded; `frame` counts frames from the start of the recording. */
export type HarnessEvent =
  | { type: 'level'; frame: number; levelDbfs: number; speechProbability: number }
  | { type: 'speakingChanged'; frame: number; speaking: boolean }
  | { type: 'talkingWhileMuted'; frame: number }
  | { type: 'error'; frame: number; message: string };

/** Base64 Float32 (as the page encodes it) → Float32Array. */
export function decodeSamples(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
