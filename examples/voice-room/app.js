// Concord example voice room: join a room, talk, see who speaks, how their voice travels and how
// the call is doing. Served by `npm start` with COOP/COEP headers.
//
// Tokens: by default the page asks the gateway's /dev/token route (dev mode only). With
// `?tokenServer=http://127.0.0.1:8090` it asks that token server instead, as a real app asks its
// own backend (see examples/token-server).
import { VoiceClient, setLogLevel } from '/sdk/concord.browser.js';

const params = new URLSearchParams(location.search);
setLogLevel(params.has('debug') ? 'debug' : 'warn');
const tokenServer = params.get('tokenServer');

const $ = (id) => document.getElementById(id);
const form = $('join-form');
const view = $('room-view');
const list = $('participants');
let client;
let room;

$('isolated').textContent = String(globalThis.crossOriginIsolated === true);
$('name').value = localStorage.getItem('concord:name') ?? '';
$('media').value = localStorage.getItem('concord:media') ?? 'auto';

// ---- a stable user id per tab, separate from the display name ----
// The name is only shown: "Sam" and "sam" are two people, and two tabs of one person are two
// participants. The id survives a reload of the tab (sessionStorage), so a reload takes over its
// own previous membership instead of leaving a ghost behind. A duplicated tab copies
// sessionStorage: the tabs ask each other over a BroadcastChannel and the newer one picks a new id.
const newUserId = () => `u-${crypto.randomUUID().slice(0, 8)}`;
let userId = sessionStorage.getItem('concord:userId') ?? newUserId();
const setUserId = (id) => {
  userId = id;
  sessionStorage.setItem('concord:userId', id);
  $('user-id').textContent = id;
};
setUserId(userId);
const tabs = new BroadcastChannel('concord:user-ids');
tabs.onmessage = ({ data }) => {
  if (data?.ask === userId) tabs.postMessage({ taken: userId });
  else if (data?.taken === userId && !client) setUserId(newUserId());
};
tabs.postMessage({ ask: userId });

function showError(message) {
  $('error').hidden = !message;
  $('error').textContent = message ?? '';
}

const PATH_LABEL = { webrtc: 'WebRTC', websocket: 'WebSocket' };

function render() {
  list.replaceChildren(
    ...[...room.participants.values()].map((p) => {
      const li = document.createElement('li');
      li.dataset.userId = p.userId;
      li.dataset.speaking = String(p.speaking);
      li.dataset.muted = String(p.muted);
      li.dataset.mediaPath = p.mediaPath;
      const dot = document.createElement('span');
      dot.className = 'dot';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = p.name + (p.isLocal ? ' (you)' : '');
      name.title = `user id ${p.userId}`;
      const badges = document.createElement('span');
      badges.className = 'badges';
      badges.textContent = [p.muted ? 'muted' : '', p.deafened ? 'deafened' : '']
        .filter(Boolean)
        .join(' · ');
      const path = document.createElement('span');
      path.className = 'path';
      path.dataset.path = p.mediaPath;
      path.textContent = PATH_LABEL[p.mediaPath] ?? p.mediaPath;
      path.title = 'How this voice travels';
      const quality = document.createElement('span');
      quality.className = 'quality';
      quality.dataset.quality = p.connectionQuality ?? 'good';
      quality.textContent = p.connectionQuality ?? '';
      li.append(dot, name, badges, path, quality);
      if (!p.isLocal) {
        const volume = document.createElement('input');
        Object.assign(volume, {
          type: 'range',
          min: '0',
          max: '2',
          step: '0.05',
          value: String(p.volume),
        });
        volume.setAttribute('aria-label', `Volume of ${p.name}`);
        volume.addEventListener('input', () => p.setVolume(Number(volume.value)));
        li.append(volume);
      }
      return li;
    }),
  );
  $('local-path').textContent = PATH_LABEL[room.localParticipant.mediaPath] ?? '–';
  $('mute').setAttribute('aria-pressed', String(room.localParticipant.muted));
  $('mute').textContent = room.localParticipant.muted ? 'Unmute' : 'Mute';
  $('deafen').setAttribute('aria-pressed', String(room.localParticipant.deafened));
  $('deafen').textContent = room.localParticipant.deafened ? 'Undeafen' : 'Deafen';
}

// ---- live statistics: numbers once a second and a one-minute chart ----
const CHART_POINTS = 60;
const history = [];
let statsTimer;
const fmt = (v, unit, digits = 0) => (Number.isFinite(v) ? `${v.toFixed(digits)} ${unit}` : '–');

function renderStats() {
  if (!client) return;
  const stats = client.getStats();
  const remote = Object.values(stats.participants ?? {});
  const mean = (key) =>
    remote.length ? remote.reduce((s, r) => s + (r[key] ?? 0), 0) / remote.length : NaN;
  $('stat-bitrate').textContent = fmt(stats.bitrateBps / 1000, 'kbps');
  $('stat-loss').textContent = fmt(mean('lossPct'), '%', 1);
  $('stat-jitter').textContent = fmt(mean('jitterMs'), 'ms', 1);
  $('stat-buffer').textContent = fmt(mean('jitterBufferDelayMs'), 'ms');
  $('rtt').textContent = fmt(stats.rttMs, 'ms', 1);
  $('stat-quality').textContent = stats.quality ?? '–';
  history.push({ kbps: stats.bitrateBps / 1000, rtt: stats.rttMs });
  if (history.length > CHART_POINTS) history.shift();
  drawChart();
}

function drawChart() {
  const canvas = $('chart');
  const g = canvas.getContext('2d');
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  const line = (key, max, color) => {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    let drawing = false;
    history.forEach((h, i) => {
      const v = h[key];
      // Not measured yet ("–") is a gap in the line, never a 0.
      if (!Number.isFinite(v)) {
        drawing = false;
        return;
      }
      const x = (i / (CHART_POINTS - 1)) * (width - 4) + 2;
      const y = height - 4 - (Math.min(v, max) / max) * (height - 8);
      if (drawing) g.lineTo(x, y);
      else g.moveTo(x, y);
      drawing = true;
    });
    g.stroke();
  };
  line('kbps', 128, '#4f5bd5');
  line('rtt', 200, '#e08a1e');
}

function resetStats() {
  clearInterval(statsTimer);
  history.length = 0;
  for (const id of ['stat-bitrate', 'stat-loss', 'stat-jitter', 'stat-buffer', 'rtt'])
    $(id).textContent = '–';
  $('stat-quality').textContent = '–';
  drawChart();
}

// ---- tokens: the gateway's dev route, or the app's own token server ----
async function fetchToken(name, roomName) {
  const query = new URLSearchParams({ user: userId, name, room: roomName });
  const url = tokenServer
    ? `${tokenServer.replace(/\/$/, '')}/token?${query}`
    : `/dev/token?${query}`;
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(
      `cannot reach the token server at ${tokenServer ?? location.host}: ${err.message}`,
      { cause: err },
    );
  }
  if (!res.ok) {
    const detail = await res.json().then(
      (b) => b.error,
      () => undefined,
    );
    throw new Error(
      tokenServer
        ? `the token server refused (HTTP ${res.status}${detail ? `: ${detail}` : ''})`
        : 'this gateway does not hand out dev tokens (start it with --insecure-dev-auth, or pass ?tokenServer=<url> of a token server)',
    );
  }
  return (await res.json()).token;
}

function backToForm() {
  resetStats();
  view.hidden = true;
  form.hidden = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError();
  const name = $('name').value.trim();
  const roomName = $('room').value.trim();
  const media = $('media').value;
  localStorage.setItem('concord:name', name);
  localStorage.setItem('concord:media', media);
  $('join').disabled = true;
  try {
    // A token function, not a string: the SDK calls it again to refresh the session's token
    // before it expires and on every reconnect.
    const token = () => fetchToken(name, roomName);
    await token(); // fail here, with that message, when there is no token to be had
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/gateway`;
    client = new VoiceClient({ url, token, media });
    const thisClient = client;
    client.on('stateChange', (_prev, next) => {
      if (client !== thisClient) return;
      $('status').dataset.status = next;
      $('status').textContent = next;
    });
    // The SDK sends its first heartbeat at READY: the round trip is known about one RTT after
    // connecting, before the stats timer first runs.
    client.on('rtt', (ms) => client === thisClient && ($('rtt').textContent = fmt(ms, 'ms', 1)));
    client.on('disconnected', (err) => err && showError(err.message));
    client.on('transportChanged', () => room && render());
    wireAudio();
    await client.connect();
    $('rtt').textContent = fmt(client.rttMs, 'ms', 1);
    room = await client.join(roomName);
    for (const e of [
      'participantJoined',
      'participantLeft',
      'voiceStateChanged',
      'speakingChanged',
      'mediaPathChanged',
      'connectionQualityChanged',
    ])
      room.on(e, render);
    room.on('left', (reason) => {
      if (reason === 'replaced') {
        // Another session with this user id joined the room: say so instead of silently
        // falling back to the form while the status still says "ready".
        showError(
          `You joined "${roomName}" again from another tab or device with the same user id (${userId}), so this tab left the room.`,
        );
        void thisClient.disconnect();
      }
      backToForm();
    });
    resetStats();
    renderStats();
    statsTimer = setInterval(renderStats, 1000);
    // The Join click is a user gesture: start the microphone right away (the button toggles it).
    startMicrophone();
    $('room-name').textContent = room.name;
    form.hidden = true;
    view.hidden = false;
    render();
  } catch (err) {
    showError(err.message);
    client?.disconnect();
  } finally {
    $('join').disabled = false;
  }
});

// ---- microphone: Concord's capture chain (echo canceller, RNNoise, AGC, VAD) ----
async function refreshDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind, fallback, current) => {
    select.replaceChildren(
      ...devices
        .filter((d) => d.kind === kind)
        .map((d, i) => {
          const o = document.createElement('option');
          o.value = d.deviceId;
          o.textContent = d.label || `${fallback} ${i + 1}`;
          return o;
        }),
    );
    if (current) select.value = current;
  };
  fill($('input-device'), 'audioinput', 'Microphone', client?.localAudio.deviceId);
  const canChoose = typeof globalThis.AudioContext?.prototype.setSinkId === 'function';
  $('output-device').hidden = !canChoose;
  $('output-note').hidden = canChoose;
  if (canChoose) fill($('output-device'), 'audiooutput', 'Speakers', outputDeviceId);
}

let outputDeviceId = localStorage.getItem('concord:output') ?? undefined;

async function applyOutputDevice() {
  if (!client || outputDeviceId === undefined || client.audio.state.status !== 'running') return;
  try {
    await client.audio.setOutputDevice(outputDeviceId);
  } catch (err) {
    showError(err.message);
  }
}

function wireAudio() {
  const audio = client.localAudio;
  audio.on('level', (db) => ($('level').value = Math.max(-80, db)));
  audio.on('talkingWhileMuted', () => ($('muted-warning').hidden = false));
  audio.on('speakingChanged', (speaking) => {
    if (!speaking) $('muted-warning').hidden = true;
  });
  audio.on('deviceChanged', () => refreshDevices());
  audio.on('error', (e) => showError(e.message));
  // Autoplay: without a user gesture the browser keeps the AudioContext suspended. Show a button
  // that resumes it (a click is a gesture) instead of a silent call.
  client.audio.on('autoplayBlocked', () => ($('enable-audio').hidden = false));
  client.audio.on('running', () => {
    $('enable-audio').hidden = true;
    void applyOutputDevice();
    // A microphone that could not start while audio was blocked starts now.
    if (micWanted) void startMicrophone();
  });
}

$('enable-audio').addEventListener('click', () =>
  client?.audio.resume().catch((err) => showError(err.message)),
);

// Whether the person wants the microphone on (Join turns it on, the button toggles it).
let micWanted = false;

async function startMicrophone() {
  micWanted = true;
  const audio = client?.localAudio;
  if (!audio || audio.state.status !== 'stopped') return;
  try {
    const stages = Object.fromEntries(
      ['aec', 'ns', 'agc'].map((s) => [s, $(`stage-${s}`).checked]),
    );
    await audio.start({ stages });
    audio.setMuted(room.localParticipant.muted);
    await refreshDevices();
    await applyOutputDevice();
  } catch (err) {
    showError(err.message);
  }
  updateMicButton();
}

function updateMicButton() {
  const live = client?.localAudio.state.status === 'live';
  $('mic').setAttribute('aria-pressed', String(live));
  $('mic').textContent = live ? 'Stop microphone' : 'Start microphone';
  if (!live) $('level').value = -80;
}

$('mic').addEventListener('click', async () => {
  const audio = client?.localAudio;
  if (!audio) return;
  if (audio.state.status === 'live') {
    micWanted = false;
    audio.stop();
    updateMicButton();
  } else await startMicrophone();
});

$('input-device').addEventListener('change', (e) =>
  client?.localAudio.setInputDevice(e.target.value).catch((err) => showError(err.message)),
);
$('output-device').addEventListener('change', (e) => {
  outputDeviceId = e.target.value;
  localStorage.setItem('concord:output', outputDeviceId);
  void applyOutputDevice();
});
for (const stage of ['aec', 'ns', 'agc']) {
  $(`stage-${stage}`).addEventListener('change', (e) =>
    client?.localAudio.setStageEnabled(stage, e.target.checked),
  );
}

$('mute').addEventListener('click', () =>
  room?.setMuted(!room.localParticipant.muted).then(render, (e) => showError(e.message)),
);
$('deafen').addEventListener('click', () =>
  room?.setDeafened(!room.localParticipant.deafened).then(render, (e) => showError(e.message)),
);
$('leave').addEventListener('click', async () => {
  await client?.disconnect();
  backToForm();
});

// Tests and curious developers can reach the live objects.
globalThis.concordExample = {
  get client() {
    return client;
  },
  get room() {
    return room;
  },
  get userId() {
    return userId;
  },
  /** Samples in the statistics chart (one a second; reset on a new call). */
  get chartPoints() {
    return history.length;
  },
};
