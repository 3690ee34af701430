// Types of the page-side harness (pages/audio-harness.js) as the specs see it.
import type { HarnessEvent, Recording } from './analysis.js';

/** Stage switches of the capture chain. */
export interface Stages {
  aec: boolean;
  ns: boolean;
  agc: boolean;
  vad: boolean;
}

/** What `startCapture` reports about the graph it built. */
export interface CaptureFacts {
  contextRateHz: number;
  contextState: string;
  crossOriginIsolated: boolean;
  trackSettings: MediaTrackSettings;
}

/** `window.audioHarness`. */
export interface AudioHarness {
  createClient(options?: {
    sampleRateHz?: number;
    token?: string;
    audio?: object;
    media?: string | object;
  }): unknown;
  startCapture(options: {
    stages: Stages;
    sampleRateHz?: number;
    deviceId?: string;
    audio?: object;
  }): Promise<CaptureFacts>;
  waitFrames(n: number, timeoutMs?: number): Promise<void>;
  collect(n: number, timeoutMs?: number): Promise<Recording>;
  waitEvent(type: string, fromEvent?: number, timeoutMs?: number): Promise<HarnessEvent>;
  setMuted(muted: boolean): void;
  setStageEnabled(stage: keyof Stages, enabled: boolean): Promise<void>;
  events: HarnessEvent[];
  startPlayback(options?: {
    sampleRateHz?: number;
  }): Promise<{ contextRateHz: number; contextState: string }>;
  feedTones(streams: Array<{ key: string; freqHz: number; amp: number; volume: number }>): void;
  stopFeeding(): void;
  snapshot(): { samples: string; counters: Record<string, number> };
  join(room: string): Promise<number>;
  leakCycle(options: {
    deviceId: string | undefined;
    stages: Stages;
    room: string;
    roomMute: boolean;
  }): Promise<void>;
  inputDevices(): Promise<Array<{ deviceId: string; label: string; groupId: string }>>;
  heapBytes(): Promise<number>;
  uaMemoryBytes(
    timeoutMs?: number,
  ): Promise<{ bytes: number; scopes: Record<string, number> } | null>;
  timing(): { capture: number[]; playback: number[]; captureMaxUs: number; contextRateHz: number };
  timeInWorker(options: {
    rateHz?: number;
    seconds?: number;
    warmupSeconds?: number;
    stages: Stages;
  }): Promise<{
    captureUs: number[];
    playbackUs: number[];
    stageUsPerFrame: Record<keyof Stages, number>;
  }>;
  stopAll(): Promise<void>;
  diagnostics(): { audioContexts: number; workletNodes: number; inputTracks: number };
  frameCount: number;
}

declare global {
  interface Window {
    audioHarness: AudioHarness;
  }
}
