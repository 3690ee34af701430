import { Mixer, Resampler, Spatializer } from '@concord/wasm-dsp';
import { AudioClock } from '../shared/AudioClock.js';
import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from '../shared/constants.js';
import {
  PLAYBACK_PROCESSOR,
  type PlaybackCommand,
  type PlaybackEvent,
  type PlaybackProcessorOptions,
} from '../shared/messages.js';
import { QuantumTimer } from '../shared/QuantumTimer.js';
import { SampleRing } from '../shared/SampleRing.js';
import { MIX_SAMPLES, PlaybackEngine } from './PlaybackEngine.js';

// Shared empty channel list for a disconnected input/output: `[]` in process() would allocate.
const NO_CHANNELS: readonly Float32Array[] = [];
// Stats every 75 quanta (200 ms at 48 kHz).
const REPORT_EVERY_QUANTA = 75;
// Without shared memory, each slot gets a local ring of this many frames fed by 'push'.
const LOCAL_RING_FRAMES = 16;

/**
 * The playback AudioWorkletProcessor: a thin Web Audio shell around {@link PlaybackEngine}.
 * Ready handshake as for capture; `process()` allocates nothing but the stats it posts a few
 * times per second.
 */
class PlaybackProcessor extends AudioWorkletProcessor {
  private engine: PlaybackEngine | undefined;
  private mixer: Mixer | undefined;
  private resampler: Resampler | undefined;
  private resamplerRight: Resampler | undefined;
  private spatializer: Spatializer | undefined;
  private readonly localRings = new Map<number, SampleRing>();
  private readonly timer = new QuantumTimer();
  private clock: AudioClock | undefined;
  private destroyed = false;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    this.port.onmessage = (e: MessageEvent<PlaybackCommand>) => this.onCommand(e.data);
    try {
      const o = options.processorOptions as PlaybackProcessorOptions;
      this.mixer = Mixer.createSync(o.mixer, {
        maxStreams: o.maxStreams,
        frameSamples: MIX_SAMPLES,
      });
      if (o.clock) this.clock = new AudioClock(o.clock);
      if (sampleRate !== SAMPLE_RATE_HZ) {
        if (!o.resampler) throw new Error(`a ${sampleRate} Hz context needs the resampler kernel`);
        this.resampler = Resampler.createSync(o.resampler, {
          inRateHz: SAMPLE_RATE_HZ,
          outRateHz: sampleRate,
          maxInputSamples: FRAME_SAMPLES,
        });
      }
      if (o.spatial) {
        this.spatializer = Spatializer.createSync(o.spatial, {
          maxVoices: o.maxStreams,
          frameSamples: MIX_SAMPLES,
        });
        if (this.resampler && o.resampler)
          this.resamplerRight = Resampler.createSync(o.resampler, {
            inRateHz: SAMPLE_RATE_HZ,
            outRateHz: sampleRate,
            maxInputSamples: FRAME_SAMPLES,
          });
      }
      this.engine = new PlaybackEngine({
        contextRateHz: sampleRate,
        mixer: this.mixer,
        ...(this.resampler ? { resampleOut: this.resampler } : {}),
        ...(this.spatializer ? { spatializer: this.spatializer } : {}),
        ...(this.resamplerRight ? { resampleOutRight: this.resamplerRight } : {}),
        ...(o.reference ? { reference: new SampleRing(o.reference) } : {}),
      });
      this.post({ type: 'ready' });
    } catch (err) {
      this.release();
      this.post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (this.destroyed) return false;
    const engine = this.engine;
    if (!engine) return true;
    this.timer.start();
    engine.processQuantum(outputs[0] ?? NO_CHANNELS);
    this.timer.stop();
    this.clock?.tick();
    if (engine.stats.quanta % REPORT_EVERY_QUANTA === 0) {
      const { histogram, maxUs } = this.timer.take();
      this.post(
        { type: 'stats', counters: { ...engine.stats }, timingHistogram: histogram, maxUs },
        [histogram.buffer],
      );
    }
    return true;
  }

  private onCommand(cmd: PlaybackCommand): void {
    const engine = this.engine;
    if (!engine) return;
    try {
      switch (cmd.type) {
        case 'setStream':
          this.localRings.delete(cmd.slot);
          engine.setStream(cmd.slot, cmd.ring ? new SampleRing(cmd.ring) : undefined);
          return;
        case 'setGain':
          engine.setGain(cmd.slot, cmd.gain);
          return;
        case 'setRenderMode':
          engine.setRenderMode(cmd.mode);
          return;
        case 'setDirection':
          engine.setDirection(cmd.slot, cmd.azimuthRad, cmd.elevationRad);
          return;
        case 'clearDirection':
          engine.clearDirection(cmd.slot);
          return;
        case 'push': {
          let ring = this.localRings.get(cmd.slot);
          if (!ring) {
            ring = SampleRing.allocate(LOCAL_RING_FRAMES * FRAME_SAMPLES, false);
            this.localRings.set(cmd.slot, ring);
            engine.setStream(cmd.slot, ring);
          }
          ring.push(cmd.samples);
          return;
        }
        case 'destroy':
          this.release();
          return;
      }
    } catch (err) {
      this.post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private release(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.mixer?.destroy();
    this.resampler?.destroy();
    this.resamplerRight?.destroy();
    this.spatializer?.destroy();
    this.mixer = undefined;
    this.resampler = undefined;
    this.resamplerRight = undefined;
    this.spatializer = undefined;
    this.engine = undefined;
    this.clock = undefined;
    this.localRings.clear();
    this.port.onmessage = null;
  }

  private post(event: PlaybackEvent, transfer: Transferable[] = []): void {
    this.port.postMessage(event, transfer);
  }
}

registerProcessor(PLAYBACK_PROCESSOR, PlaybackProcessor);
