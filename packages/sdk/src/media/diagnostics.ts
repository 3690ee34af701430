/**
 * Live audio resources created by the SDK in this page, for leak checks (a session that
 * mutes, switches devices and rejoins 50 times must end with the same numbers). Main thread.
 */
export interface AudioDiagnostics {
  /** AudioContexts created and not closed. */
  audioContexts: number;
  /** AudioWorkletNodes created and not destroyed. */
  workletNodes: number;
  /** MediaStreamTracks from getUserMedia not yet stopped. */
  inputTracks: number;
}

/** The page-wide counters (mutated by the SDK only). */
export const audioDiagnostics: AudioDiagnostics = {
  audioContexts: 0,
  workletNodes: 0,
  inputTracks: 0,
};

/** A snapshot of the page-wide audio resource counters. */
export function getAudioDiagnostics(): AudioDiagnostics {
  return { ...audioDiagnostics };
}
