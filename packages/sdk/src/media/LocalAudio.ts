import {
  CAPTURE_PROCESSOR,
  CAPTURE_FRAME_SAMPLES,
  FrameRing,
  type CaptureCommand,
  type CaptureEvent,
  type CaptureProcessorOptions,
  type FrameMeta,
  type ProcessorStats,
} from '@concord/audio-worklet';
import { CAPTURE_STAGES, type CaptureStage } from '@concord/wasm-dsp';
import { InvalidStateError, MediaError } from '../errors.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { waitReady, type AudioEngine } from './AudioEngine.js';
import { audioDiagnostics } from './diagnostics.js';

/** Options of {@link LocalAudio.start}. */
export interface LocalAudioOptions {
  /** Input device id (default: the system default). */
  deviceId?: string;
  /** Concord's stages (default: all on). A stage that is off may fall back to the browser's. */
  stages?: Partial<Record<CaptureStage, boolean>>;
  /**
   * The browser's own processing for stages Concord does not run (default true): with `aec`
   * off the browser's echoCancellation is used, and so on. Concord's own stage always turns
   * the browser's off, so the two never run together.
   */
  browserFallback?: boolean;
}

/** One processed frame, as the sender receives it. */
export interface CapturedFrame {
  /**
   * 480 samples (10 ms) at 48 kHz from the capture worklet, silence while muted; a custom
   * `FrameSource` (a Node bot) may deliver 960 (20 ms).
   */
  samples: Float32Array;
  /** Frame counter, level, speech probability and flags (bit 0 speaking, bit 1 muted). */
  meta: FrameMeta;
}

/** Capture lifecycle; each state holds only what exists in it. */
export type LocalAudioState =
  | { status: 'stopped' }
  | { status: 'starting' }
  | {
      status: 'live';
      stream: MediaStream;
      source: MediaStreamAudioSourceNode;
      node: AudioWorkletNode;
      output: MediaStreamAudioDestinationNode;
      deviceId: string | undefined;
    };

/** Events of {@link LocalAudio}. */
export type LocalAudioEvents = {
  /** Lifecycle transitions. */
  stateChange: [previous: LocalAudioState['status'], next: LocalAudioState['status']];
  /** Input level about 5 times a second: dBFS and speech probability in [0, 1]. */
  level: [levelDbfs: number, speechProbability: number];
  /** The VAD's speaking decision changed (with hangover). */
  speakingChanged: [speaking: boolean];
  /** Speech while muted: tell the user they are muted (once per speaking onset). */
  talkingWhileMuted: [];
  /** The input device changed: on request, or because the device was unplugged. */
  deviceChanged: [deviceId: string | undefined, reason: 'requested' | 'unplugged'];
  /** Counters and timing from the audio thread, about 2.5 times a second. */
  stats: [stats: ProcessorStats];
  /** A capture failure after start (e.g. the device vanished and no fallback worked). */
  error: [error: MediaError];
};

const FRAME_RING_FRAMES = 100; // 1 s of 10 ms frames between the audio thread and the sender
// Without shared memory (or Atomics.waitAsync) frames are polled this often, ms.
const POLL_MS = 10;
// Upper bound of one wait for a frame: the loop re-checks that capture is still live, ms.
const FRAME_WAIT_TIMEOUT_MS = 200;

type FrameListener = (frame: CapturedFrame) => void;

/**
 * The local microphone: getUserMedia with the browser's processing switched off where Concord's
 * runs, the capture worklet (resampling, echo canceller with the playback mix as reference,
 * RNNoise, AGC, VAD), mute without tearing down the graph, device switching and unplug
 * fallback, level and speaking events. Main thread.
 */
export class LocalAudio extends TypedEmitter<LocalAudioEvents> {
  private _state: LocalAudioState = { status: 'stopped' };
  private _muted = false;
  private _speaking = false;
  private warnedWhileMuted = false;
  private readonly stages: Record<CaptureStage, boolean> = {
    aec: true,
    ns: true,
    agc: true,
    vad: true,
  };
  private browserFallback = true;
  private frames: FrameRing | undefined;
  private readonly fallbackQueue: CapturedFrame[] = [];
  private poller: ReturnType<typeof setInterval> | undefined;
  private readonly frameListeners = new Set<FrameListener>();
  private readonly log = getLogger('concord:capture');
  private readonly onDeviceChange = (): void => void this.checkDevice();
  /** Per-quantum processing-time histogram since start (10 µs bins). */
  readonly timing: number[] = [];

  constructor(private readonly engine: AudioEngine) {
    super();
  }

  /** Current state. */
  get state(): LocalAudioState {
    return this._state;
  }

  /** Whether capture is muted (frames carry silence; the VAD still listens). */
  get muted(): boolean {
    return this._muted;
  }

  /** Whether the VAD hears speech now. */
  get speaking(): boolean {
    return this._speaking;
  }

  /** The processed microphone as a MediaStreamTrack (e.g. for WebRTC), while live. */
  get processedTrack(): MediaStreamTrack | undefined {
    return this._state.status === 'live'
      ? this._state.output.stream.getAudioTracks()[0]
      : undefined;
  }

  /** Current input device id (undefined: the default device). */
  get deviceId(): string | undefined {
    return this._state.status === 'live' ? this._state.deviceId : undefined;
  }

  /** Whether a stage runs. */
  isStageEnabled(stage: CaptureStage): boolean {
    return this.stages[stage];
  }

  /**
   * Opens the microphone and starts the capture worklet (the engine starts first if needed).
   * @throws {MediaError} `CONCORD_ERR_MEDIA_PERMISSION`, `…_DEVICE`, `…_UNSUPPORTED`, `…_WORKLET`.
   * @throws {InvalidStateError} when already live or starting.
   */
  async start(options: LocalAudioOptions = {}): Promise<void> {
    if (this._state.status !== 'stopped')
      throw new InvalidStateError(`capture is already ${this._state.status}`);
    for (const [stage, on] of Object.entries(options.stages ?? {}))
      this.stages[checkStage(stage)] = on;
    this.browserFallback = options.browserFallback ?? true;
    this.setState({ status: 'starting' });
    try {
      await this.engine.start();
      const { context, assets, reference } = this.engine.running();
      const stream = await this.openMic(options.deviceId);
      const shared = globalThis.crossOriginIsolated === true;
      this.frames = shared ? FrameRing.allocate(FRAME_RING_FRAMES, true) : undefined;
      const processorOptions: CaptureProcessorOptions = {
        sources: {
          aec: assets.capture.aec,
          agc: assets.capture.agc,
          vad: assets.capture.vad,
          rnnoise: assets.capture.rnnoise,
        },
        stages: { ...this.stages },
        nsModel: assets.capture.rnnoise.model,
        muted: this._muted,
        ...(context.sampleRate !== 48_000 ? { resampler: assets.resampler } : {}),
        ...(shared ? { reference: reference.handle } : {}),
        ...(this.frames ? { frames: this.frames.handle } : {}),
      };
      const node = new AudioWorkletNode(context, CAPTURE_PROCESSOR, {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        channelCount: 2,
        channelCountMode: 'explicit',
        outputChannelCount: [1],
        processorOptions,
      });
      audioDiagnostics.workletNodes++;
      node.port.addEventListener('message', (e: MessageEvent<CaptureEvent>) =>
        this.onWorkletMessage(e.data),
      );
      try {
        await waitReady(node.port, 'capture');
      } catch (err) {
        this.releaseNode(node);
        stopTracks(stream);
        throw err;
      }
      const source = context.createMediaStreamSource(stream);
      const output = context.createMediaStreamDestination();
      source.connect(node);
      // A destination pulls the node, so it runs even when nobody consumes the track yet.
      node.connect(output);
      if (this.status() !== 'starting') {
        // stop() was called meanwhile.
        this.teardown({ status: 'live', stream, source, node, output, deviceId: options.deviceId });
        return;
      }
      this.setState({ status: 'live', stream, source, node, output, deviceId: options.deviceId });
      this.startFrameDelivery();
      navigator.mediaDevices.addEventListener?.('devicechange', this.onDeviceChange);
    } catch (err) {
      if (this.status() === 'starting') this.setState({ status: 'stopped' });
      throw err;
    }
  }

  /** Stops capture and releases the microphone, the worklet and its WASM memory (idempotent). */
  stop(): void {
    const s = this._state;
    if (s.status === 'live') this.teardown(s);
    if (s.status !== 'stopped') this.setState({ status: 'stopped' });
  }

  /**
   * Mutes or unmutes without tearing anything down: frames become silence, the VAD keeps
   * listening (for `talkingWhileMuted`).
   */
  setMuted(muted: boolean): void {
    if (typeof muted !== 'boolean') throw new TypeError('muted must be a boolean');
    this._muted = muted;
    this.warnedWhileMuted = false;
    this.command({ type: 'setMuted', muted });
  }

  /**
   * Switches one of Concord's stages at runtime; the browser's own processing takes over (or
   * steps back) for the same job when `browserFallback` is on.
   * @throws {RangeError} for an unknown stage.
   */
  async setStageEnabled(stage: CaptureStage, enabled: boolean): Promise<void> {
    this.stages[checkStage(stage)] = enabled;
    this.command({ type: 'setStage', stage, enabled });
    const s = this._state;
    if (s.status === 'live') {
      const track = s.stream.getAudioTracks()[0];
      await track
        ?.applyConstraints(this.constraints(s.deviceId))
        .catch((err: unknown) => this.log.warn('applyConstraints failed', { err }));
    }
  }

  /**
   * Switches the input device, keeping the worklet, its state and the session.
   * @throws {MediaError} when the device cannot be opened (the previous one stays live).
   * @throws {InvalidStateError} when not live.
   */
  async setInputDevice(deviceId: string | undefined): Promise<void> {
    await this.switchDevice(deviceId, 'requested');
  }

  /** Audio input devices (labels need microphone permission). */
  async listInputDevices(): Promise<MediaDeviceInfo[]> {
    if (!navigator.mediaDevices?.enumerateDevices)
      throw MediaError.unsupported('navigator.mediaDevices');
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
  }

  /** Receives every processed frame (for the transport); returns an unsubscribe function. */
  onFrame(listener: FrameListener): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  private async switchDevice(
    deviceId: string | undefined,
    reason: 'requested' | 'unplugged',
  ): Promise<void> {
    const s = this._state;
    if (s.status !== 'live') throw new InvalidStateError(`cannot switch devices while ${s.status}`);
    const stream = await this.openMic(deviceId);
    const current = this._state;
    if (current.status !== 'live' || current.node !== s.node) {
      stopTracks(stream);
      return;
    }
    const { context } = this.engine.running();
    const source = context.createMediaStreamSource(stream);
    current.source.disconnect();
    stopTracks(current.stream);
    source.connect(current.node);
    // A new device means a new echo path: the canceller relearns it.
    if (this.stages.aec) {
      this.command({ type: 'setStage', stage: 'aec', enabled: false });
      this.command({ type: 'setStage', stage: 'aec', enabled: true });
    }
    this._state = { ...current, stream, source, deviceId };
    this.log.info('input device changed', { deviceId, reason });
    this.safeEmit('deviceChanged', deviceId, reason);
  }

  private async checkDevice(): Promise<void> {
    const s = this._state;
    if (s.status !== 'live') return;
    const track = s.stream.getAudioTracks()[0];
    const ended = !track || track.readyState === 'ended';
    let gone = false;
    if (s.deviceId !== undefined) {
      const devices = await this.listInputDevices().catch(() => []);
      gone = !devices.some((d) => d.deviceId === s.deviceId);
    }
    if (!ended && !gone) return;
    this.log.warn('input device lost: falling back to the default device', {
      deviceId: s.deviceId,
    });
    try {
      await this.switchDevice(undefined, 'unplugged');
    } catch (err) {
      this.safeEmit(
        'error',
        err instanceof MediaError ? err : MediaError.device('no input device is available', err),
      );
    }
  }

  private constraints(deviceId: string | undefined): MediaTrackConstraints {
    const fallback = this.browserFallback;
    return {
      ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
      channelCount: { ideal: 1 },
      echoCancellation: !this.stages.aec && fallback,
      noiseSuppression: !this.stages.ns && fallback,
      autoGainControl: !this.stages.agc && fallback,
    };
  }

  private async openMic(deviceId: string | undefined): Promise<MediaStream> {
    const md = (globalThis as { navigator?: Navigator }).navigator?.mediaDevices;
    if (!md?.getUserMedia)
      throw MediaError.unsupported('getUserMedia (a secure context is required)');
    let stream: MediaStream;
    try {
      stream = await md.getUserMedia({ audio: this.constraints(deviceId), video: false });
    } catch (cause) {
      const name = (cause as { name?: string }).name;
      if (name === 'NotAllowedError' || name === 'SecurityError')
        throw MediaError.permission(cause);
      throw MediaError.device(
        deviceId ? `cannot open input device ${deviceId}` : 'no input device is available',
        cause,
      );
    }
    audioDiagnostics.inputTracks += stream.getAudioTracks().length;
    const track = stream.getAudioTracks()[0];
    track?.addEventListener('ended', this.onDeviceChange);
    return stream;
  }

  private onWorkletMessage(e: CaptureEvent): void {
    switch (e.type) {
      case 'level':
        this.safeEmit('level', e.levelDbfs, e.speechProbability);
        if (e.speaking !== this._speaking) {
          this._speaking = e.speaking;
          this.safeEmit('speakingChanged', e.speaking);
          if (e.speaking && this._muted && !this.warnedWhileMuted) {
            this.warnedWhileMuted = true;
            this.safeEmit('talkingWhileMuted');
          }
          if (!e.speaking) this.warnedWhileMuted = false;
        }
        return;
      case 'stats':
        e.timingHistogram.forEach((n, i) => (this.timing[i] = (this.timing[i] ?? 0) + n));
        this.safeEmit('stats', e);
        return;
      case 'frame':
        if (this.fallbackQueue.length < FRAME_RING_FRAMES) {
          this.fallbackQueue.push({
            samples: e.samples,
            meta: {
              seq: e.seq,
              levelDbfs: e.levelDbfs,
              speechProbability: e.speechProbability,
              flags: e.flags,
            },
          });
        }
        return;
      case 'error':
        this.log.error('capture processor error', { message: e.message });
        this.safeEmit('error', MediaError.worklet(e.message));
        return;
      default:
        return;
    }
  }

  /**
   * Frames reach listeners as soon as the audio thread completes them: the capture processor
   * `notify()`s the frame ring and this loop waits on it with `Atomics.waitAsync` (no timer
   * phase between frame and send: a 10 ms poll added 0–10 ms and, as seen by receivers, 10 ms of
   * bimodal jitter). Without shared memory frames come over the port and are polled.
   */
  private startFrameDelivery(): void {
    const ring = this.frames;
    if (ring && ring.waitForFrame(ring.writeMark, 0) !== undefined) {
      void this.frameLoop(ring);
      return;
    }
    this.poller = setInterval(() => this.drainFrames(), POLL_MS);
  }

  private async frameLoop(ring: FrameRing): Promise<void> {
    while (this.frames === ring) {
      const mark = ring.writeMark;
      this.drainFrames();
      await ring.waitForFrame(mark, FRAME_WAIT_TIMEOUT_MS);
    }
  }

  private drainFrames(): void {
    if (this.frames) {
      while (this.frames.framesAvailable > 0) {
        const frame: CapturedFrame = {
          samples: new Float32Array(CAPTURE_FRAME_SAMPLES),
          meta: { seq: 0, levelDbfs: 0, speechProbability: 0, flags: 0 },
        };
        this.frames.pull(frame.samples, frame.meta);
        for (const l of this.frameListeners) l(frame);
      }
    }
    while (this.fallbackQueue.length > 0) {
      const frame = this.fallbackQueue.shift()!;
      for (const l of this.frameListeners) l(frame);
    }
  }

  private command(cmd: CaptureCommand): void {
    if (this._state.status === 'live') this._state.node.port.postMessage(cmd);
  }

  private teardown(s: Extract<LocalAudioState, { status: 'live' }>): void {
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
    navigator.mediaDevices?.removeEventListener?.('devicechange', this.onDeviceChange);
    s.source.disconnect();
    stopTracks(s.stream);
    this.releaseNode(s.node);
    s.output.stream.getTracks().forEach((t) => t.stop());
    this.frames = undefined;
    this.fallbackQueue.length = 0;
    if (this._speaking) {
      this._speaking = false;
      this.safeEmit('speakingChanged', false);
    }
  }

  private releaseNode(node: AudioWorkletNode): void {
    node.port.postMessage({ type: 'destroy' } satisfies CaptureCommand);
    node.disconnect();
    node.port.close();
    audioDiagnostics.workletNodes--;
  }

  // A method call, so TypeScript does not carry a narrowing of `_state` across an await.
  private status(): LocalAudioState['status'] {
    return this._state.status;
  }

  private setState(next: LocalAudioState): void {
    const prev = this._state;
    this._state = next;
    if (prev.status !== next.status) {
      this.log.info('capture', { from: prev.status, to: next.status });
      this.safeEmit('stateChange', prev.status, next.status);
    }
  }
}

function stopTracks(stream: MediaStream): void {
  for (const t of stream.getTracks()) {
    if (t.readyState !== 'ended') {
      t.stop();
    }
    if (t.kind === 'audio') audioDiagnostics.inputTracks--;
  }
}

function checkStage(stage: string): CaptureStage {
  if (!(CAPTURE_STAGES as readonly string[]).includes(stage)) {
    throw new RangeError(`stage must be one of ${CAPTURE_STAGES.join(', ')}, got ${stage}`);
  }
  return stage as CaptureStage;
}
