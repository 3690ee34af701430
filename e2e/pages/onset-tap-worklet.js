/* global AudioWorkletProcessor, sampleRate, currentFrame, registerProcessor */
// A tap for the voice e2e specs: finds burst onsets in its input on the audio thread and posts
// each one with the wall-clock time (Date.now(), 1 ms ticks, the clock every page and process
// on this machine shares) of the render quantum that carried it — the time the onset entered
// this point of the graph. Outputs silence (connected to the destination only to be pulled).
// With `envelope: true` it also keeps, for the latency benchmark, the peak |x| of every 1 ms
// block (by the context's frame counter) and the time of every quantum, for up to 60 s, posted
// on a 'dump' message (test code: it allocates only then).
const ENVELOPE_BLOCKS = 60_000;
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
    if (o.envelope) {
      this.blockSamples = Math.round(sampleRate / 1000);
      this.env = new Float32Array(ENVELOPE_BLOCKS);
      this.firstBlock = -1;
      this.qTimes = new Float64Array((ENVELOPE_BLOCKS * this.blockSamples) / 128 + 1);
      this.qFrames = new Float64Array(this.qTimes.length);
      this.nq = 0;
      this.port.onmessage = (e) => {
        if (e.data === 'reset') {
          this.firstBlock = -1;
          this.nq = 0;
          this.env.fill(0);
        } else if (e.data === 'dump') {
          const blocks =
            this.firstBlock < 0
              ? 0
              : Math.min(ENVELOPE_BLOCKS, this.lastBlock - this.firstBlock + 1);
          this.port.postMessage({
            type: 'envelope',
            firstBlock: this.firstBlock,
            blockSamples: this.blockSamples,
            envelope: this.env.slice(0, blocks),
            quantumTimes: this.qTimes.slice(0, this.nq),
            quantumFrames: this.qFrames.slice(0, this.nq),
          });
        }
      };
    }
  }

  process(inputs) {
    const input = inputs[0];
    const ch = input && input[0];
    this.quanta++;
    if (!ch) return true;
    const now = Date.now();
    for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]);
      if (a >= this.threshold) {
        if (this.quiet >= this.quietSamples) {
          this.port.postMessage({ t: now, frame: currentFrame + i, amp: a });
        }
        this.quiet = 0;
      } else {
        this.quiet++;
      }
    }
    if (this.env && this.nq < this.qTimes.length) {
      if (this.firstBlock < 0) this.firstBlock = Math.floor(currentFrame / this.blockSamples);
      this.qTimes[this.nq] = now;
      this.qFrames[this.nq] = currentFrame;
      this.nq++;
      for (let i = 0; i < ch.length; i++) {
        const b = Math.floor((currentFrame + i) / this.blockSamples) - this.firstBlock;
        if (b >= ENVELOPE_BLOCKS) break;
        const a = Math.abs(ch[i]);
        if (a > this.env[b]) this.env[b] = a;
        this.lastBlock = b + this.firstBlock;
      }
    }
    return true;
  }
}
registerProcessor('concord-onset-tap', OnsetTap);
