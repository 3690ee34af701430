// Times the real capture and playback processors (the worklet bundle, unchanged) per render
// quantum in a dedicated Worker, where performance.now() has 5 µs resolution in a
// cross-origin isolated page. Chromium's AudioWorkletGlobalScope has no `performance`, so the
// processors' own timer falls back to Date.now() (1 ms ticks) and cannot resolve a 0.5 ms
// goal. Shims stand in for AudioWorkletProcessor/registerProcessor/sampleRate; rings are
// shared like in the page (echo reference, frames out, two voices in). Quanta are processed
// in real-time bursts (every 10 ms, the quanta due), as the audio thread does.
const processors = {};
globalThis.AudioWorkletProcessor = class {
  constructor() {
    this.port = new MessageChannel().port1;
  }
};
globalThis.registerProcessor = (name, cls) => {
  processors[name] = cls;
};

const QUANTUM = 128;
const FRAME = 960;

function ring(capacity) {
  return { indices: new SharedArrayBuffer(8), data: new SharedArrayBuffer((capacity + 1) * 4) };
}

// Producer side of the SampleRing layout (indices [read, write], one slot kept empty).
function push(handle, src) {
  const idx = new Int32Array(handle.indices);
  const data = new Float32Array(handle.data);
  const size = data.length;
  const r = Atomics.load(idx, 0);
  let w = Atomics.load(idx, 1);
  const free = (r > w ? r - w : r + size - w) - 1;
  if (free < src.length) return false;
  for (let i = 0; i < src.length; i++) {
    data[w] = src[i];
    if (++w === size) w = 0;
  }
  Atomics.store(idx, 1, w);
  return true;
}

function drain(handle) {
  const idx = new Int32Array(handle.indices);
  Atomics.store(idx, 0, Atomics.load(idx, 1));
}

onmessage = async (e) => {
  const { processorsUrl, rateHz, seconds, warmupSeconds, capture, playback } = e.data;
  globalThis.sampleRate = rateHz;
  await import(processorsUrl);
  const reference = ring(9_600);
  const frames = ring(50 * (4 + FRAME));
  const voices = [ring(25 * FRAME), ring(25 * FRAME)];
  const cap = new processors['concord-capture']({
    processorOptions: { ...capture, reference, frames },
  });
  const pb = new processors['concord-playback']({ processorOptions: { ...playback, reference } });
  // Same commands RemotePlayback posts, delivered synchronously.
  voices.forEach((v, slot) => {
    pb.onCommand({ type: 'setStream', slot, ring: v });
    pb.onCommand({ type: 'setGain', slot, gain: 1 });
  });
  const total = Math.round((seconds * rateHz) / QUANTUM);
  const captureUs = new Float64Array(total);
  const playbackUs = new Float64Array(total);
  const left = new Float32Array(QUANTUM);
  const right = new Float32Array(QUANTUM);
  const capOut = [[new Float32Array(QUANTUM)]];
  const pbOut = [[new Float32Array(QUANTUM), new Float32Array(QUANTUM)]];
  const voiceFrame = new Float32Array(FRAME);
  let n = 0;
  let voiceN = 0;
  let done = 0;
  // Per-stage time of the chain (its own report, same clock), averaged after the warm-up.
  const warmupQuanta = Math.round((warmupSeconds * rateHz) / QUANTUM);
  const stageSum = [0, 0, 0, 0];
  let stageFrames = 0;
  let lastFrames = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(
        total,
        Math.floor((((performance.now() - t0) / 1000) * rateHz) / QUANTUM),
      );
      for (; done < due; done++) {
        // Microphone: 440 Hz at −20 dBFS; voices: 1 kHz (outside the timed region).
        for (let i = 0; i < QUANTUM; i++, n++) {
          left[i] = right[i] = 0.14 * Math.sin((2 * Math.PI * 440 * n) / rateHz);
        }
        for (const v of voices) {
          for (let i = 0; i < FRAME; i++)
            voiceFrame[i] = 0.3 * Math.sin((2 * Math.PI * 1000 * (voiceN + i)) / 48_000);
          if (push(v, voiceFrame) && v === voices[1]) voiceN += FRAME;
        }
        const a = performance.now();
        cap.process([[left, right]], capOut);
        const b = performance.now();
        pb.process([], pbOut);
        const c = performance.now();
        captureUs[done] = (b - a) * 1000;
        const framesDone = cap.engine.stats.frames;
        if (framesDone !== lastFrames && done >= warmupQuanta) {
          lastFrames = framesDone;
          const st = cap.chain.report.stageUs;
          for (let k = 0; k < 4; k++) stageSum[k] += st[k];
          stageFrames++;
        }
        playbackUs[done] = (c - b) * 1000;
        drain(frames);
      }
      if (done >= total) resolve();
      else setTimeout(tick, 10);
    };
    tick();
  });
  const [aec, ns, agc, vad] = stageSum.map((us) => us / Math.max(1, stageFrames));
  postMessage({ captureUs, playbackUs, stageUsPerFrame: { aec, ns, agc, vad } });
};
