import { Resampler } from '@concord/wasm-dsp';
import { RENDER_QUANTUM_FRAMES, SAMPLE_RATE_HZ } from '../shared/constants.js';
import {
  TAP_PROCESSOR,
  type TapCommand,
  type TapEvent,
  type TapProcessorOptions,
} from '../shared/messages.js';
import { SampleRing } from '../shared/SampleRing.js';
import { TapEngine } from './TapEngine.js';

const NO_CHANNELS: readonly Float32Array[] = [];
// Counters every 375 quanta (about a second).
const REPORT_EVERY_QUANTA = 375;

/**
 * The tap AudioWorkletProcessor: a thin Web Audio shell around {@link TapEngine}, one per remote
 * WebRTC voice (its input: the consumer's track). Ready handshake as for the other processors;
 * `process()` allocates nothing but the counters it posts about once a second.
 */
class TapProcessor extends AudioWorkletProcessor {
  private engine: TapEngine | undefined;
  private resampler: Resampler | undefined;
  private destroyed = false;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    this.port.onmessage = (e: MessageEvent<TapCommand>) => {
      if (e.data.type === 'destroy') this.release();
    };
    try {
      const o = options.processorOptions as TapProcessorOptions;
      if (sampleRate !== SAMPLE_RATE_HZ) {
        if (!o.resampler) throw new Error(`a ${sampleRate} Hz context needs the resampler kernel`);
        this.resampler = Resampler.createSync(o.resampler, {
          inRateHz: sampleRate,
          outRateHz: SAMPLE_RATE_HZ,
          maxInputSamples: RENDER_QUANTUM_FRAMES,
        });
      }
      this.engine = new TapEngine({
        ring: new SampleRing(o.ring),
        ...(this.resampler ? { resampleIn: this.resampler } : {}),
      });
      this.post({ type: 'ready' });
    } catch (err) {
      this.release();
      this.post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  process(inputs: Float32Array[][]): boolean {
    if (this.destroyed) return false;
    const engine = this.engine;
    if (!engine) return true;
    engine.processQuantum(inputs[0] ?? NO_CHANNELS);
    if (engine.stats.quanta % REPORT_EVERY_QUANTA === 0)
      this.post({ type: 'counters', counters: { ...engine.stats } });
    return true;
  }

  private release(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.resampler?.destroy();
    this.resampler = undefined;
    this.engine = undefined;
    this.port.onmessage = null;
  }

  private post(event: TapEvent): void {
    this.port.postMessage(event);
  }
}

registerProcessor(TAP_PROCESSOR, TapProcessor);
