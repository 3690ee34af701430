import {
  AudioClock,
  PLAYBACK_PROCESSOR,
  SampleRing,
  type PlaybackEvent,
  type PlaybackProcessorOptions,
} from '@concord/audio-worklet';
import type { DenoiserModel } from '@concord/wasm-dsp';
import { MediaError } from '../errors.js';
import { getLogger } from '../logger.js';
import { TypedEmitter } from '../TypedEmitter.js';
import { defaultAssetsUrl, loadAudioAssets, type AudioAssets } from './AudioAssets.js';
import { audioDiagnostics } from './diagnostics.js';
import { RemotePlayback } from './RemotePlayback.js';
import {
  checkPosition,
  placeSource,
  resolveProximity,
  type Listener,
  type Position,
  type ProximityOptions,
  type ResolvedProximity,
} from './spatialScene.js';

/** Options of the audio engine. */
export interface AudioEngineOptions {
  /** Where the worklet bundle and WASM files are served (default: `assets/` beside the SDK bundle). */
  assetsUrl?: string;
  /** RNNoise build: `'fast'` (default) or `'quality'`. */
  nsModel?: DenoiserModel;
  /** AudioContext sample rate in Hz (default: the output device's). */
  sampleRateHz?: number;
  /** Most remote voices mixed at once (default 16). */
  maxRemoteStreams?: number;
  /** Proximity roll-off and radius for spatial audio (see {@link AudioEngine.setProximity}). */
  proximity?: ProximityOptions;
}

/** Events of an {@link AudioEngine}. */
export type AudioEngineEvents = {
  /** The browser refused to start audio without a user gesture; Concord resumes on the next one. */
  autoplayBlocked: [error: MediaError];
  /** The AudioContext is running. */
  running: [];
};

/** Lifecycle of the engine. */
export type AudioEngineState =
  | { status: 'idle' }
  | { status: 'starting'; ready: Promise<void> }
  | {
      status: 'running';
      context: AudioContext;
      assets: AudioAssets;
      playback: RemotePlayback;
      reference: SampleRing;
    }
  | { status: 'closed' };

// Far-end reference ring: 200 ms of 48 kHz audio between playback and capture.
const REFERENCE_RING_SAMPLES = 9_600;
const GESTURES = ['pointerdown', 'keydown', 'touchstart'] as const;

/**
 * One AudioContext per client, shared by capture and playback: loads the worklet bundle and
 * the WASM kernels once, runs the playback processor (the mix of every remote voice) and hands
 * the mix to the capture processor as the echo reference through shared memory. Resumes on the
 * first user gesture when autoplay is blocked. Main thread.
 */
export class AudioEngine extends TypedEmitter<AudioEngineEvents> {
  private _state: AudioEngineState = { status: 'idle' };
  private readonly log = getLogger('concord:audio');
  private readonly onGesture = (): void => void this.resume();
  private listener: Listener | undefined;
  private proximity: ResolvedProximity;
  private readonly sources = new Map<string, Position>();

  /** @throws {RangeError} for bad `proximity` options. */
  constructor(readonly options: AudioEngineOptions = {}) {
    super();
    this.proximity = resolveProximity(options.proximity);
  }

  /**
   * Turns on spatial audio and sets where the listener (this client) is and which way they
   * face: every remote participant with a position (`participant.setPosition`) is then heard
   * binaurally from its direction — for headphones; computed in the playback worklet, so the
   * echo canceller's reference stays what the speakers play (the average of both ears) — at its
   * proximity gain (see {@link setProximity}). Participants without a position play centred at
   * full level. `null` turns spatial audio off (back to the mono mix). Call it whenever the
   * listener moves or turns (cheap: a few messages to the audio thread). Works before `start()`.
   * Main thread.
   * @param listener `position` in metres (`{x, y, z?}`: x east, y north, z up), `heading` in
   *   radians counter-clockwise from +x (0 faces east, π/2 north).
   * @throws {TypeError} for a non-finite coordinate or heading.
   */
  setListener(listener: Listener | null): void {
    if (listener !== null) {
      checkPosition(listener.position, 'listener.position');
      if (typeof listener.heading !== 'number' || !Number.isFinite(listener.heading))
        throw new TypeError(
          `listener.heading must be a finite number (radians), got ${String(listener.heading)}`,
        );
      this.listener = {
        position: { ...listener.position },
        heading: listener.heading,
      };
    } else this.listener = undefined;
    const playback = this.playbackIfRunning();
    playback?.setRenderMode(this.listener ? 'binaural' : 'mono');
    this.placeAll();
  }

  /** The listener set by {@link setListener} (a copy), or undefined when spatial audio is off. */
  getListener(): Listener | undefined {
    return this.listener
      ? { position: { ...this.listener.position }, heading: this.listener.heading }
      : undefined;
  }

  /**
   * Sets how voices fade with distance: full level up to `refDistanceM`, then the inverse
   * distance law with `rolloffFactor`, faded to silence over the last `fadeM` before
   * `maxDistanceM` and silent beyond it (defaults 1 m, 1, 20 m, 2 m). Main thread.
   * @throws {RangeError} naming the first value out of range.
   */
  setProximity(options: ProximityOptions): void {
    this.proximity = resolveProximity(options);
    this.placeAll();
  }

  /**
   * Sets (or with `undefined`, clears) the position of the remote voice `userId`, in metres.
   * Apps call `participant.setPosition()`, which lands here. Main thread.
   * @throws {TypeError} for a non-finite coordinate.
   */
  setSourcePosition(userId: string, position: Position | undefined): void {
    if (position) {
      checkPosition(position, 'position');
      this.sources.set(userId, { ...position });
    } else this.sources.delete(userId);
    this.place(userId);
  }

  private playbackIfRunning(): RemotePlayback | undefined {
    return this._state.status === 'running' ? this._state.playback : undefined;
  }

  private placeAll(): void {
    for (const userId of this.sources.keys()) this.place(userId);
  }

  private place(userId: string): void {
    const playback = this.playbackIfRunning();
    if (!playback) return;
    const source = this.sources.get(userId);
    playback.setPlacement(
      userId,
      this.listener && source ? placeSource(this.listener, source, this.proximity) : undefined,
    );
  }

  /** Current state. */
  get state(): AudioEngineState {
    return this._state;
  }

  /**
   * Creates the AudioContext and the playback graph (idempotent; concurrent calls share one
   * start). Resolves even when autoplay is blocked (then `autoplayBlocked` is emitted).
   * @throws {MediaError} for missing Web Audio support, unreachable assets or a failing worklet.
   */
  async start(): Promise<void> {
    const s = this._state;
    if (s.status === 'running') return;
    if (s.status === 'starting') return s.ready;
    if (s.status === 'closed') throw MediaError.unsupported('a closed audio engine');
    const ready = this.doStart();
    this._state = { status: 'starting', ready };
    try {
      await ready;
    } catch (err) {
      if (this._state.status === 'starting') this._state = { status: 'idle' };
      throw err;
    }
  }

  /** The running context, graph and assets. @throws {MediaError} before `start()`. */
  running(): Extract<AudioEngineState, { status: 'running' }> {
    if (this._state.status !== 'running')
      throw MediaError.unsupported(`audio before start() (state ${this._state.status})`);
    return this._state;
  }

  /** Remote voices: attach, feed decoded PCM, set volumes. @throws {MediaError} before `start()`. */
  get playback(): RemotePlayback {
    return this.running().playback;
  }

  /**
   * Resumes a suspended AudioContext; call it from a click handler when `autoplayBlocked`
   * fired. Resolves once running.
   */
  async resume(): Promise<void> {
    if (this._state.status !== 'running') return;
    const { context } = this._state;
    if (context.state === 'running') return;
    await context.resume();
    if ((context.state as AudioContextState) === 'running') {
      this.removeGestureListeners();
      this.safeEmit('running');
    }
  }

  /**
   * Routes playback to an output device where the browser supports `AudioContext.setSinkId`.
   * @throws {MediaError} `CONCORD_ERR_MEDIA_UNSUPPORTED` where it does not.
   */
  async setOutputDevice(deviceId: string): Promise<void> {
    const { context } = this.running();
    const ctx = context as AudioContext & { setSinkId?: (id: string) => Promise<void> };
    if (typeof ctx.setSinkId !== 'function')
      throw MediaError.unsupported('AudioContext.setSinkId (output device selection)');
    try {
      await ctx.setSinkId(deviceId);
    } catch (cause) {
      throw MediaError.device(`cannot play on output device ${deviceId}`, cause);
    }
  }

  /** Closes the context and everything in it (idempotent). */
  async close(): Promise<void> {
    const s = this._state;
    this._state = { status: 'closed' };
    if (s.status === 'starting') await s.ready.catch(() => undefined);
    const started = s.status === 'running' ? s : undefined;
    this.removeGestureListeners();
    if (started) {
      started.playback.destroy();
      await started.context.close().catch(() => undefined);
      audioDiagnostics.audioContexts--;
    }
  }

  private async doStart(): Promise<void> {
    const Ctx = (globalThis as { AudioContext?: typeof AudioContext }).AudioContext;
    if (!Ctx) throw MediaError.unsupported('Web Audio (AudioContext)');
    const assets = await loadAudioAssets(
      this.options.assetsUrl ?? defaultAssetsUrl(),
      this.options.nsModel ?? 'fast',
    );
    const context = new Ctx({
      latencyHint: 'interactive',
      ...(this.options.sampleRateHz ? { sampleRate: this.options.sampleRateHz } : {}),
    });
    audioDiagnostics.audioContexts++;
    try {
      if (!context.audioWorklet)
        throw MediaError.unsupported('AudioWorklet (a secure context is required)');
      await context.audioWorklet.addModule(assets.processorsUrl);
      const shared = globalThis.crossOriginIsolated === true;
      const reference = SampleRing.allocate(REFERENCE_RING_SAMPLES, shared);
      const maxStreams = this.options.maxRemoteStreams ?? 16;
      const clock = shared ? AudioClock.allocate(true) : undefined;
      const processorOptions: PlaybackProcessorOptions = {
        mixer: assets.mixer.slice(0),
        maxStreams,
        ...(context.sampleRate !== 48_000 ? { resampler: assets.resampler.slice(0) } : {}),
        ...(shared ? { reference: reference.handle } : {}),
        ...(clock ? { clock: clock.buffer as SharedArrayBuffer } : {}),
        spatial: assets.spatial.slice(0),
      };
      const node = new AudioWorkletNode(context, PLAYBACK_PROCESSOR, {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [2],
        processorOptions,
      });
      const playback = new RemotePlayback(node, maxStreams, shared, clock, {
        context,
        resampler: context.sampleRate !== 48_000 ? assets.resampler : undefined,
      });
      try {
        await waitReady(node.port, 'playback');
      } catch (err) {
        playback.destroy();
        throw err;
      }
      node.connect(context.destination);
      if (this._state.status === 'closed') {
        playback.destroy();
        await context.close();
        audioDiagnostics.audioContexts--;
        return;
      }
      this._state = { status: 'running', context, assets, playback, reference };
      if (this.listener) playback.setRenderMode('binaural');
      this.placeAll();
      this.log.info('audio engine running', {
        sampleRateHz: context.sampleRate,
        crossOriginIsolated: shared,
      });
    } catch (err) {
      await context.close().catch(() => undefined);
      audioDiagnostics.audioContexts--;
      throw err instanceof MediaError
        ? err
        : MediaError.worklet('the audio worklet failed to start', err);
    }
    await this.tryAutoplay();
  }

  private async tryAutoplay(): Promise<void> {
    if (this._state.status !== 'running') return;
    const { context } = this._state;
    if (context.state !== 'running') {
      // Resuming can hang until a gesture; do not wait on it.
      void context.resume().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (context.state === 'running') {
      this.safeEmit('running');
      return;
    }
    const doc = (globalThis as { document?: Document }).document;
    for (const g of GESTURES) doc?.addEventListener(g, this.onGesture, { capture: true });
    this.log.warn('autoplay blocked: audio starts on the next user gesture');
    this.safeEmit('autoplayBlocked', MediaError.autoplayBlocked());
  }

  private removeGestureListeners(): void {
    const doc = (globalThis as { document?: Document }).document;
    for (const g of GESTURES) doc?.removeEventListener(g, this.onGesture, { capture: true });
  }
}

/** Waits for a processor's ready handshake. @throws {MediaError} on its `error` message. */
export function waitReady(port: MessagePort, what: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      port.removeEventListener('message', onMessage);
      reject(MediaError.worklet(`the ${what} processor did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (e: MessageEvent<PlaybackEvent>): void => {
      if (e.data.type === 'ready' || e.data.type === 'error') {
        clearTimeout(timer);
        port.removeEventListener('message', onMessage);
        if (e.data.type === 'ready') resolve();
        else reject(MediaError.worklet(`the ${what} processor failed: ${e.data.message}`));
      }
    };
    port.addEventListener('message', onMessage);
    port.start();
  });
}
