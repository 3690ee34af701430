// Page side of the audio e2e specs: drives the SDK bundle (window.concord, loaded by audio.html)
// and records what the SDK hands out, so the specs in Node only send commands and analyse data.
// Plain ESM JavaScript: it runs in the page as is.
const { VoiceClient, getAudioDiagnostics } = window.concord;

const FRAME_SAMPLES = 960;

/** Float32Array → base64 (fast enough for a few MB; evaluate() results travel as JSON). */
function toBase64(f32) {
  const u8 = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

const h = {
  /** @type {import('../../packages/sdk/src/index.js').VoiceClient | undefined} */
  client: undefined,
  /** Frames received since capture start (every processed frame, counted). */
  frameCount: 0,
  /** While recording: the frames; otherwise undefined. */
  recording: undefined,
  /** Every event since capture start, with the frame count when it arrived. */
  events: [],
  waiters: [],

  /** Creates the client (no gateway connection needed for audio). */
  createClient({
    sampleRateHz = 44_100,
    token = 'dev:audio-e2e:AudioE2E',
    audio = {},
    media = undefined,
  } = {}) {
    const url = `ws://${location.host}/gateway`;
    h.client = new VoiceClient({
      url,
      token,
      audio: { sampleRateHz, ...audio },
      ...(media ? { media } : {}),
    });
    const la = h.client.localAudio;
    la.on('level', (levelDbfs, speechProbability) =>
      h.events.push({ type: 'level', frame: h.frameCount, levelDbfs, speechProbability }),
    );
    la.on('speakingChanged', (speaking) =>
      h.events.push({ type: 'speakingChanged', frame: h.frameCount, speaking }),
    );
    la.on('talkingWhileMuted', () =>
      h.events.push({ type: 'talkingWhileMuted', frame: h.frameCount }),
    );
    h.captureMaxUs = 0;
    la.on('stats', (st) => (h.captureMaxUs = Math.max(h.captureMaxUs, st.maxUs)));
    la.on('error', (err) =>
      h.events.push({ type: 'error', frame: h.frameCount, message: String(err) }),
    );
    // The capture worklet hands over 10 ms frames; the specs reason in 20 ms frames (the WAV
    // loops' frame grid), so pairs (seq 2k, 2k + 1) are joined: samples concatenated, flags
    // ORed, the level their power mean.
    let first;
    la.onFrame((ten) => {
      if (ten.samples.length === FRAME_SAMPLES) return onFrame(ten);
      if (ten.meta.seq % 2 === 0) {
        first = { samples: ten.samples.slice(), meta: { ...ten.meta } };
        return;
      }
      if (!first || first.meta.seq !== ten.meta.seq - 1) return;
      const samples = new Float32Array(FRAME_SAMPLES);
      samples.set(first.samples);
      samples.set(ten.samples, first.samples.length);
      const power = (10 ** (first.meta.levelDbfs / 10) + 10 ** (ten.meta.levelDbfs / 10)) / 2;
      onFrame({
        samples,
        meta: {
          seq: first.meta.seq / 2,
          levelDbfs: 10 * Math.log10(power),
          speechProbability: Math.max(first.meta.speechProbability, ten.meta.speechProbability),
          flags: first.meta.flags | ten.meta.flags,
        },
      });
      first = undefined;
    });
    const onFrame = (frame) => {
      h.frameCount++;
      if (h.recording) h.recording.push(frame);
      h.waiters = h.waiters.filter((w) => {
        if (h.frameCount < w.until) return true;
        w.resolve();
        return false;
      });
    };
    return h.client;
  },

  /** Starts capture with `stages` (browser processing off) and returns context facts. */
  async startCapture({ stages, sampleRateHz = 44_100, deviceId, audio } = {}) {
    if (!h.client) h.createClient({ sampleRateHz, audio });
    await h.client.localAudio.start({
      stages,
      browserFallback: false,
      ...(deviceId !== undefined ? { deviceId } : {}),
    });
    const { context } = h.client.audio.running();
    const track = h.client.localAudio.state.stream.getAudioTracks()[0];
    return {
      contextRateHz: context.sampleRate,
      contextState: context.state,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      trackSettings: track.getSettings(),
    };
  },

  /** Resolves once `n` more frames have arrived (rejects after `timeoutMs`). */
  waitFrames(n, timeoutMs = 20_000) {
    const until = h.frameCount + n;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${h.frameCount} of ${until} frames after ${timeoutMs} ms`)),
        timeoutMs,
      );
      h.waiters.push({
        until,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  },

  /**
   * Records the next `n` frames and returns them: samples (base64 Float32, 960 per frame),
   * seq/flags/level per frame, the events that arrived meanwhile (their `frame` relative to
   * the first recorded frame) and the frame count at the start.
   */
  async collect(n, timeoutMs = 20_000) {
    const startFrame = h.frameCount;
    const firstEvent = h.events.length;
    const recorded = [];
    h.recording = recorded;
    try {
      await h.waitFrames(n, timeoutMs);
    } finally {
      h.recording = undefined;
    }
    const frames = recorded.slice(0, n);
    const all = new Float32Array(frames.length * FRAME_SAMPLES);
    frames.forEach((f, i) => all.set(f.samples, i * FRAME_SAMPLES));
    return {
      startFrame,
      samples: toBase64(all),
      seq: frames.map((f) => f.meta.seq),
      flags: frames.map((f) => f.meta.flags),
      levelDbfs: frames.map((f) => f.meta.levelDbfs),
      events: h.events.slice(firstEvent).map((e) => ({ ...e, frame: e.frame - startFrame })),
    };
  },

  /** Resolves with the first event of `type` recorded at or after index `fromEvent`. */
  waitEvent(type, fromEvent = 0, timeoutMs = 15_000) {
    const deadline = performance.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const poll = () => {
        const hit = h.events.slice(fromEvent).find((e) => e.type === type);
        if (hit) resolve(hit);
        else if (performance.now() > deadline)
          reject(new Error(`no ${type} event in ${timeoutMs} ms`));
        else setTimeout(poll, 10);
      };
      poll();
    });
  },

  setMuted(muted) {
    h.client.localAudio.setMuted(muted);
  },

  setStageEnabled(stage, enabled) {
    return h.client.localAudio.setStageEnabled(stage, enabled);
  },

  /**
   * Starts the engine (no capture) and taps the playback processor's output with an
   * AnalyserNode (32768 samples: 0.68 s at 48 kHz).
   */
  async startPlayback({ sampleRateHz = 48_000 } = {}) {
    if (!h.client) h.createClient({ sampleRateHz });
    await h.client.audio.start();
    const { context, playback } = h.client.audio.running();
    h.analyser = new AnalyserNode(context, { fftSize: 32_768 });
    playback.node.connect(h.analyser);
    return { contextRateHz: context.sampleRate, contextState: context.state };
  },

  /**
   * Feeds one 48 kHz sine per stream into `playback.pushFrame` at `volume`, keeping each
   * voice's buffer full (a 10 ms timer; a full buffer refuses the whole frame, so the phase
   * stays continuous). Runs until `stopFeeding()`.
   */
  feedTones(streams) {
    const { playback } = h.client.audio.running();
    const voices = streams.map((s) => ({ ...s, n: 0, frame: new Float32Array(FRAME_SAMPLES) }));
    for (const v of voices) playback.setVolume(v.key, v.volume);
    const fill = (v) => {
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        v.frame[i] = v.amp * Math.sin((2 * Math.PI * v.freqHz * (v.n + i)) / 48_000);
      }
    };
    const tick = () => {
      for (const v of voices) {
        for (;;) {
          fill(v);
          if (!playback.pushFrame(v.key, v.frame)) break;
          v.n += FRAME_SAMPLES;
        }
      }
    };
    tick();
    h.feeder = setInterval(tick, 10);
  },

  stopFeeding() {
    clearInterval(h.feeder);
  },

  /** The analyser's current window (base64 Float32) and the playback counters. */
  snapshot() {
    const buf = new Float32Array(h.analyser.fftSize);
    h.analyser.getFloatTimeDomainData(buf);
    const { playback } = h.client.audio.running();
    return { samples: toBase64(buf), counters: { ...(playback.lastStats?.counters ?? {}) } };
  },

  /** Connects to the gateway and joins `room`. */
  async join(room) {
    if (h.client.state !== 'ready') await h.client.connect();
    h.room = await h.client.join(room);
    return h.room.participants.size;
  },

  /**
   * One leak-check cycle: mute/unmute (capture; with `roomMute` through the room, which also
   * tells the gateway), switch the input device, leave and rejoin the room, stop and restart
   * capture.
   */
  async leakCycle({ deviceId, stages, room, roomMute }) {
    if (roomMute) {
      await h.room.setMuted(true);
      await h.room.setMuted(false);
    }
    h.client.localAudio.setMuted(true);
    h.client.localAudio.setMuted(false);
    await h.client.localAudio.setInputDevice(deviceId);
    await h.room.leave();
    h.room = await h.client.join(room);
    h.client.localAudio.stop();
    await h.client.localAudio.start({ stages, browserFallback: false, deviceId });
    await h.waitFrames(2);
  },

  async inputDevices() {
    const list = await h.client.localAudio.listInputDevices();
    return list.map((d) => ({ deviceId: d.deviceId, label: d.label, groupId: d.groupId }));
  },

  /**
   * JS heap after a full GC (needs --js-flags=--expose-gc), in bytes. Drops the harness's own
   * event log first, so it measures the SDK, not the recorder.
   */
  async heapBytes() {
    h.events.length = 0;
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    return performance.memory.usedJSHeapSize;
  },

  /**
   * performance.measureUserAgentSpecificMemory(): total bytes and bytes per scope (Window,
   * DedicatedWorkerGlobalScope, …), or null where unavailable.
   */
  async uaMemoryBytes(timeoutMs = 30_000) {
    if (typeof performance.measureUserAgentSpecificMemory !== 'function') return null;
    globalThis.gc();
    const m = await Promise.race([
      performance.measureUserAgentSpecificMemory(),
      new Promise((r) => setTimeout(() => r(null), timeoutMs)),
    ]);
    if (!m) return null;
    const scopes = {};
    for (const b of m.breakdown) {
      for (const a of b.attribution) scopes[a.scope] = (scopes[a.scope] ?? 0) + b.bytes;
      if (b.attribution.length === 0)
        scopes[b.types.join('+') || 'shared'] =
          (scopes[b.types.join('+') || 'shared'] ?? 0) + b.bytes;
    }
    return { bytes: m.bytes, scopes };
  },

  /** Copies of the capture and playback processing-time histograms (10 µs bins). */
  timing() {
    const { playback } = h.client.audio.running();
    return {
      capture: [...h.client.localAudio.timing],
      playback: [...playback.timing],
      captureMaxUs: h.captureMaxUs,
      contextRateHz: h.client.audio.running().context.sampleRate,
    };
  },

  /**
   * Runs the worklet bundle's processors in a Worker (see timing-worker.js) for `seconds` and
   * returns per-quantum times in µs, as the audio thread would spend them.
   */
  async timeInWorker({ rateHz = 44_100, seconds = 10, warmupSeconds = 1, stages }) {
    const base = new URL('/sdk/assets/', location.href).href;
    const assets = await window.concord.loadAudioAssets(base, 'fast');
    const worker = new Worker('/e2e/timing-worker.js', { type: 'module' });
    const result = new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(`${e.message} at ${e.filename}:${e.lineno}`));
    });
    worker.postMessage({
      processorsUrl: assets.processorsUrl,
      rateHz,
      seconds,
      warmupSeconds,
      capture: {
        sources: assets.capture,
        stages,
        nsModel: assets.capture.rnnoise.model,
        muted: false,
        resampler: assets.resampler,
      },
      playback: { mixer: assets.mixer, maxStreams: 16, resampler: assets.resampler },
    });
    const { captureUs, playbackUs, stageUsPerFrame } = await result;
    worker.terminate();
    return { captureUs: [...captureUs], playbackUs: [...playbackUs], stageUsPerFrame };
  },

  /** Stops capture and closes the engine. */
  async stopAll() {
    h.client.localAudio.stop();
    await h.client.audio.close();
  },

  diagnostics() {
    return getAudioDiagnostics();
  },
};

window.audioHarness = h;
