// Page side of the voice e2e specs (voice-*.spec.ts, latency.spec.ts): one VoiceClient in a
// room, with taps that timestamp audio on the wall clock every page on this machine shares
// (Date.now(), 1 ms ticks):
// - capture tap: a MediaStreamAudioSourceNode on the microphone track (in the client's own
//   AudioContext) into an onset-detecting worklet — when each burst onset entered the capture
//   graph (the render quantum that carried it);
// - playback input: `client.audio.playback.pushFrame` wrapped, every 20 ms frame the receiver
//   pushes recorded with the time it was pushed, per remote user id;
// - playback output (optional): `playback.node` into the same onset tap, plus a recorder.
// Also a raw WebRTC peer (no Concord) for the latency baseline. Plain ESM JavaScript.
const { VoiceClient } = window.concord;

// Every RTCPeerConnection the page makes, until closed: a leak check for WebRTC room hops.
const livePeerConnections = new Set();
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class TrackedPeerConnection extends NativePeerConnection {
  constructor(...args) {
    super(...args);
    livePeerConnections.add(this);
  }
  close() {
    livePeerConnections.delete(this);
    super.close();
  }
};

function toBase64(f32) {
  const u8 = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function concat(chunks) {
  const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Adds the onset tap to `context` (once) and connects `source` into a new tap node. */
async function onsetTap(context, source, onOnset, { threshold = 0.05, record = false } = {}) {
  // Every tap also keeps a 1 ms peak envelope with quantum times (see onset-tap-worklet.js).
  if (!context.__onsetTapLoaded) {
    await context.audioWorklet.addModule('/e2e/onset-tap-worklet.js');
    context.__onsetTapLoaded = true;
  }
  const node = new AudioWorkletNode(context, 'concord-onset-tap', {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    channelCount: 1,
    channelCountMode: 'explicit',
    processorOptions: { threshold, envelope: true },
  });
  node.port.onmessage = (e) => {
    if (e.data.type === 'envelope') node.__dumped?.(e.data);
    else onOnset(e.data);
  };
  return finishTap(context, source, node, record);
}

/** Resolves with the tap's envelope recording (see onset-tap-worklet.js), samples as base64. */
function dumpEnvelope(node) {
  if (!node) return Promise.resolve(null);
  return new Promise((resolve) => {
    node.__dumped = (d) =>
      resolve({
        firstBlock: d.firstBlock,
        blockSamples: d.blockSamples,
        envelope: toBase64(d.envelope),
        quantumTimes: Array.from(d.quantumTimes),
        quantumFrames: Array.from(d.quantumFrames),
      });
    node.port.postMessage('dump');
  });
}

function finishTap(context, source, node, record) {
  source.connect(node);
  // Pulled by the destination; the tap writes nothing (silence).
  node.connect(context.destination);
  let recorder;
  if (record) {
    // ScriptProcessor is deprecated but needs no module: fine for a test recorder.
    recorder = { chunks: [], node: context.createScriptProcessor(4096, 1, 1) };
    recorder.node.onaudioprocess = (e) => {
      recorder.chunks.push(e.inputBuffer.getChannelData(0).slice());
      e.outputBuffer.getChannelData(0).fill(0);
    };
    source.connect(recorder.node);
    recorder.node.connect(context.destination);
  }
  return { node, recorder };
}

const v = {
  client: undefined,
  room: undefined,
  /** Every gateway socket the client opened, in order. */
  sockets: [],
  /** Capture-graph onsets: { t, frame, amp }. */
  captureOnsets: [],
  /** Playback-output onsets. */
  outputOnsets: [],
  /** Per remote user id: { times: number[], chunks: Float32Array[] } of pushed frames. */
  received: new Map(),
  /** Captured frames (with `recordCapture`): push times and samples. */
  captured: { times: [], chunks: [] },
  events: [],

  /**
   * Connects, joins `room`, starts the microphone with `stages` (browser processing off) and
   * installs the taps. Resolves with the local user id.
   */
  async start({
    token,
    room,
    stages,
    sampleRateHz = 48_000,
    // The WebSocket path unless a spec asks for WebRTC (`{ path: 'webrtc' | 'auto' }`).
    media = { path: 'websocket' },
    tapOutput = false,
    recordOutput = false,
    recordCapture = false,
  }) {
    const url = `ws://${location.host}/gateway`;
    const sockets = v.sockets;
    class TrackedWebSocket extends WebSocket {
      constructor(u, p) {
        super(u, p);
        sockets.push(this);
      }
    }
    const client = new VoiceClient({
      url,
      token,
      WebSocket: TrackedWebSocket,
      audio: { sampleRateHz },
      media,
    });
    v.client = client;
    client.on('reconnected', (resumed) =>
      v.events.push({ type: 'reconnected', resumed, t: Date.now() }),
    );
    client.on('bitrateChanged', (bps, prev) =>
      v.events.push({ type: 'bitrateChanged', bps, prev, t: Date.now() }),
    );
    client.on('transportChanged', (room, path, reason) =>
      v.events.push({ type: 'transportChanged', room, path, reason, t: Date.now() }),
    );
    await client.connect();
    v.room = await client.join(room);
    await client.localAudio.start({ stages, browserFallback: false });
    const { context, playback } = client.audio.running();
    // Playback input: every frame the receiver pushes.
    const push = playback.pushFrame.bind(playback);
    playback.pushFrame = (key, samples) => {
      let r = v.received.get(key);
      if (!r) v.received.set(key, (r = { times: [], chunks: [] }));
      r.times.push(Date.now());
      r.chunks.push(samples.slice());
      return push(key, samples);
    };
    // Captured frames as the SDK hands them to the sender (after the capture chain).
    if (recordCapture)
      client.localAudio.onFrame((f) => {
        v.captured.times.push(Date.now());
        v.captured.chunks.push(f.samples.slice());
      });
    // Playback ring depth per voice (frames queued and not yet played; shared-memory path).
    v.backlog = {};
    v.backlogTimer = setInterval(() => {
      for (const key of playback.attached)
        (v.backlog[key] ??= []).push(playback.bufferedFrames(key));
    }, 100);
    // Capture graph input: the microphone track, tapped in the same context.
    const mic = new MediaStreamAudioSourceNode(context, {
      mediaStream: client.localAudio.state.stream,
    });
    v.mic = mic;
    v.captureTap = (await onsetTap(context, mic, (o) => v.captureOnsets.push(o))).node;
    if (tapOutput) {
      const { node, recorder } = await onsetTap(
        context,
        playback.node,
        (o) => v.outputOnsets.push(o),
        { threshold: 0.02, record: recordOutput },
      );
      v.outputTap = node;
      v.outputRecorder = recorder;
    }
    return { userId: client.user?.id ?? '', contextRateHz: context.sampleRate };
  },

  /** Remote user ids seen in the room (participants other than this client). */
  remoteUserIds() {
    return [...v.room.participants.values()].filter((p) => !p.isLocal).map((p) => p.userId);
  },

  /** Resolves once `key` has `n` more pushed frames (rejects after `timeoutMs`). */
  async waitReceived(key, n, timeoutMs = 15_000) {
    const start = v.received.get(key)?.times.length ?? 0;
    const deadline = performance.now() + timeoutMs;
    while ((v.received.get(key)?.times.length ?? 0) - start < n) {
      if (performance.now() > deadline)
        throw new Error(
          `only ${(v.received.get(key)?.times.length ?? 0) - start} of ${n} frames from ${key}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  },

  /** Forgets everything recorded so far (taps keep running). */
  reset() {
    v.captureOnsets = [];
    v.outputOnsets = [];
    v.received = new Map();
    v.captured = { times: [], chunks: [] };
    v.backlog = {};
    if (v.outputRecorder) v.outputRecorder.chunks = [];
    v.captureTap?.port.postMessage('reset');
    v.outputTap?.port.postMessage('reset');
  },

  /** The capture and output taps' 1 ms envelopes since the last reset (null: no such tap). */
  async envelopes() {
    return { capture: await dumpEnvelope(v.captureTap), output: await dumpEnvelope(v.outputTap) };
  },

  /**
   * What was recorded since the last reset: capture onsets, pushed frames per user (times and
   * base64 Float32 samples, 960 per frame), output onsets and the output recording.
   */
  take() {
    const received = {};
    for (const [key, r] of v.received)
      received[key] = { times: r.times, samples: toBase64(concat(r.chunks)) };
    return {
      captureOnsets: v.captureOnsets,
      outputOnsets: v.outputOnsets,
      received,
      output: v.outputRecorder ? toBase64(concat(v.outputRecorder.chunks)) : '',
      contextRateHz: v.client.audio.running().context.sampleRate,
      backlog: v.backlog,
      captured: { times: v.captured.times, samples: toBase64(concat(v.captured.chunks)) },
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
    };
  },

  stats() {
    return v.client.getStats();
  },

  /** Events recorded since start (reconnects, bitrate and transport changes), with times. */
  eventLog() {
    return v.events;
  },

  /** Each participant's media path as this page sees it, by user id. */
  mediaPaths() {
    return Object.fromEntries(
      [...v.room.participants.values()].map((p) => [p.userId, p.mediaPath]),
    );
  },

  /** Seconds of the playback output recording so far (needs recordOutput). */
  outputSeconds() {
    if (!v.outputRecorder) return 0;
    const n = v.outputRecorder.chunks.reduce((s, c) => s + c.length, 0);
    return n / v.client.audio.running().context.sampleRate;
  },

  /** Leaves the room and joins it again (the same client, capture running). */
  async rejoin() {
    const name = v.room.name;
    await v.room.leave();
    v.room = await v.client.join(name);
  },

  /** RTCPeerConnections made and not closed yet. */
  livePeerConnections() {
    return livePeerConnections.size;
  },

  /** Closes the current gateway socket as a network cut would (code 4000: may resume). */
  cutSocket(code = 4000) {
    const ws = v.sockets[v.sockets.length - 1];
    ws.close(code, 'e2e cut');
    return v.sockets.length;
  },

  async stop() {
    clearInterval(v.backlogTimer);
    v.client.localAudio.stop();
    v.client.disconnect?.();
    await v.client.audio.close();
  },

  // ---- Raw WebRTC baseline (no Concord): A sends its microphone, B plays it into Web Audio.

  /** Opens a context, taps the microphone (processing off), adds it to a new peer connection. */
  async rtcSender() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const context = new AudioContext({ latencyHint: 'interactive', sampleRate: 48_000 });
    v.captureTap = (
      await onsetTap(
        context,
        new MediaStreamAudioSourceNode(context, { mediaStream: stream }),
        (o) => v.captureOnsets.push(o),
      )
    ).node;
    v.pc = new RTCPeerConnection();
    for (const track of stream.getAudioTracks()) v.pc.addTrack(track, stream);
    v.rtcContext = context;
    return true;
  },

  /** Prepares the receiving peer: the remote stream goes to a muted <audio> and into the tap. */
  rtcReceiver() {
    v.pc = new RTCPeerConnection();
    v.rtcContext = new AudioContext({ latencyHint: 'interactive', sampleRate: 48_000 });
    v.pc.ontrack = async (e) => {
      const stream = e.streams[0] ?? new MediaStream([e.track]);
      // Chromium routes remote WebRTC audio into Web Audio only when an element plays it too.
      const el = document.createElement('audio');
      el.muted = true;
      el.autoplay = true;
      el.srcObject = stream;
      document.body.append(el);
      const src = new MediaStreamAudioSourceNode(v.rtcContext, { mediaStream: stream });
      const { node, recorder } = await onsetTap(v.rtcContext, src, (o) => v.outputOnsets.push(o), {
        threshold: 0.02,
      });
      v.outputTap = node;
      v.outputRecorder = recorder;
    };
    return true;
  },

  /** Non-trickle signalling: the full description once ICE gathering is complete. */
  async rtcDescription(remote) {
    if (remote) await v.pc.setRemoteDescription(remote);
    const desc = remote ? await v.pc.createAnswer() : await v.pc.createOffer();
    await v.pc.setLocalDescription(desc);
    if (v.pc.iceGatheringState !== 'complete') {
      await new Promise((r) => {
        v.pc.addEventListener('icegatheringstatechange', () => {
          if (v.pc.iceGatheringState === 'complete') r();
        });
      });
    }
    return { type: v.pc.localDescription.type, sdp: v.pc.localDescription.sdp };
  },

  async rtcAccept(answer) {
    await v.pc.setRemoteDescription(answer);
  },
};

window.voiceHarness = v;

/** The WebRTC pages have no client: what was recorded, without the Concord parts. */
v.takeRaw = () => ({
  captureOnsets: v.captureOnsets,
  outputOnsets: v.outputOnsets,
  received: {},
  output: '',
  contextRateHz: v.rtcContext?.sampleRate ?? 0,
});
