/* global AudioWorkletProcessor, sampleRate, currentFrame, registerProcessor */
// A tap for the voice e2e specs: finds burst onsets in its input on the audio thread and posts
// each one with the wall-clock time (Date.now(), 1 ms ticks, the clock every page and process
// on this machine shares) of the render quantum that carried it — the time the onset entered
// this point of the graph. Outputs silence (connected to the destination only to be pulled).
class OnsetTap extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions ?? {};
    this.threshold = o.threshold ?? 0.05;
    // A new onset needs this many samples below the threshold before it (bursts are 100 ms
    // every 500 ms: 200 ms of quiet separates them and ignores the tone's zero crossings).
    this.quietSamples = Math.round(((o.quietMs ?? 200) * sampleRate) / 1000);
    this.quiet = this.quietSamples;
    this.quanta = 0;
    this.lateQuanta = 0;
  }

  process(inputs) {
    const input = inputs[0];
    const ch = input && input[0];
    this.quanta++;
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]);
      if (a >= this.threshold) {
        if (this.quiet >= this.quietSamples) {
          this.port.postMessage({ t: Date.now(), frame: currentFrame + i, amp: a });
        }
        this.quiet = 0;
      } else {
        this.quiet++;
      }
    }
    return true;
  }
}
registerProcessor('concord-onset-tap', OnsetTap);
