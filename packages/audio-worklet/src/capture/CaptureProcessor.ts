import { CaptureChain, Resampler } from '@concord/wasm-dsp';
import { CAPTURE_FRAME_SAMPLES, SAMPLE_RATE_HZ } from '../shared/constants.js';
import { FrameRing } from '../shared/FrameRing.js';
import {
  CAPTURE_PROCESSOR,
  type CaptureCommand,
  type CaptureEvent,
  type CaptureProcessorOptions,
} from '../shared/messages.js';
import { QuantumTimer } from '../shared/QuantumTimer.js';
import { SampleRing } from '../shared/SampleRing.js';
import { CaptureEngine } from './CaptureEngine.js';

// Shared empty channel list for a disconnected input/output: `[]` in process() would allocate.
const NO_CHANNELS: readonly Float32Array[] = [];
// Reports every 20 frames of 10 ms (200 ms): counters and level stay "a few times per second".
const REPORT_EVERY_FRAMES = 20;

/**
 * The capture AudioWorkletProcessor: a thin Web Audio shell around {@link CaptureEngine}.
 * Everything is created synchronously in the constructor from `processorOptions`; a `ready`
 * (or `error`) message is the handshake. `process()` allocates nothing except the few
 * messages a second it posts (stats, level, and — without shared memory — the frames).
 */
class CaptureProcessor extends AudioWorkletProcessor {
  private engine: CaptureEngine | undefined;
  private chain: CaptureChain | undefined;
  private resamplers: Resampler[] = [];
  private readonly timer = new QuantumTimer();
  private destroyed = false;
  private lastSpeaking = false;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    this.port.onmessage = (e: MessageEvent<CaptureCommand>) => this.onCommand(e.data);
    try {
      const o = options.processorOptions as CaptureProcessorOptions;
      const chain = CaptureChain.createSync(o.sources, {
        stages: o.stages,
        nsModel: o.nsModel,
        frameSamples: CAPTURE_FRAME_SAMPLES,
      });
      this.chain = chain;
      let resampleIn: Resampler | undefined;
      let resampleOut: Resampler | undefined;
      if (sampleRate !== SAMPLE_RATE_HZ) {
        if (!o.resampler) throw new Error(`a ${sampleRate} Hz context needs the resampler kernel`);
        resampleIn = Resampler.createSync(o.resampler, {
          inRateHz: sampleRate,
          outRateHz: SAMPLE_RATE_HZ,
          maxInputSamples: 256,
        });
        resampleOut = Resampler.createSync(o.resampler, {
          inRateHz: SAMPLE_RATE_HZ,
          outRateHz: sampleRate,
          maxInputSamples: CAPTURE_FRAME_SAMPLES,
        });
        this.resamplers = [resampleIn, resampleOut];
      }
      const frames = o.frames ? new FrameRing(o.frames) : undefined;
      this.engine = new CaptureEngine({
        contextRateHz: sampleRate,
        chain,
        ...(resampleIn ? { resampleIn } : {}),
        ...(resampleOut ? { resampleOut } : {}),
        ...(o.reference ? { reference: new SampleRing(o.reference) } : {}),
        ...(frames ? { frames } : {}),
        onFrame: (report, seq, muted) => {
          if (!frames) {
            // No shared memory: the frame travels as a transferred copy (the fallback path).
            const samples = muted ? new Float32Array(CAPTURE_FRAME_SAMPLES) : chain.output.slice();
            const flags = (report.speaking ? 1 : 0) | (muted ? 2 : 0);
            this.post(
              {
                type: 'frame',
                seq,
                samples,
                levelDbfs: report.levelDbfs,
                speechProbability: report.speechProbability,
                flags,
              },
              [samples.buffer],
            );
          }
          if (report.speaking !== this.lastSpeaking || seq % REPORT_EVERY_FRAMES === 0) {
            this.lastSpeaking = report.speaking;
            this.post({
              type: 'level',
              levelDbfs: report.levelDbfs,
              speechProbability: report.speechProbability,
              speaking: report.speaking,
              muted,
            });
          }
          if (seq % (REPORT_EVERY_FRAMES * 2) === 0) this.postStats();
        },
      });
      this.engine.muted = o.muted;
      this.post({ type: 'ready' });
    } catch (err) {
      this.release();
      this.post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (this.destroyed) return false;
    const engine = this.engine;
    if (!engine) return true;
    this.timer.start();
    const out = outputs[0];
    engine.processQuantum(inputs[0] ?? NO_CHANNELS, out?.[0]);
    if (out) for (let c = 1; c < out.length; c++) out[c]!.set(out[0]!);
    this.timer.stop();
    return true;
  }

  private onCommand(cmd: CaptureCommand): void {
    switch (cmd.type) {
      case 'setStage':
        this.chain?.setStageEnabled(cmd.stage, cmd.enabled);
        return;
      case 'setMuted':
        if (this.engine) this.engine.muted = cmd.muted;
        return;
      case 'destroy':
        this.release();
        return;
    }
  }

  private postStats(): void {
    if (!this.engine) return;
    const { histogram, maxUs } = this.timer.take();
    this.post(
      { type: 'stats', counters: { ...this.engine.stats }, timingHistogram: histogram, maxUs },
      [histogram.buffer],
    );
  }

  private release(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.chain?.destroy();
    for (const r of this.resamplers) r.destroy();
    this.chain = undefined;
    this.engine = undefined;
    this.resamplers = [];
    this.port.onmessage = null;
  }

  private post(event: CaptureEvent, transfer: Transferable[] = []): void {
    this.port.postMessage(event, transfer);
  }
}

registerProcessor(CAPTURE_PROCESSOR, CaptureProcessor);
