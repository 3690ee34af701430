// Concord example voice room. For now it shows room membership and voice state; audio comes
// with the audio issues. Served by `npm start` with COOP/COEP headers.
import { VoiceClient, setLogLevel } from '/sdk/concord.browser.js';

setLogLevel(new URLSearchParams(location.search).has('debug') ? 'debug' : 'warn');

const $ = (id) => document.getElementById(id);
const form = $('join-form');
const view = $('room-view');
const list = $('participants');
let client;
let room;

$('isolated').textContent = String(globalThis.crossOriginIsolated === true);
$('name').value = localStorage.getItem('concord:name') ?? '';

function showError(message) {
  $('error').hidden = !message;
  $('error').textContent = message ?? '';
}

function render() {
  list.replaceChildren(
    ...[...room.participants.values()].map((p) => {
      const li = document.createElement('li');
      li.dataset.userId = p.userId;
      li.dataset.speaking = String(p.speaking);
      li.dataset.muted = String(p.muted);
      const dot = document.createElement('span');
      dot.className = 'dot';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = p.name + (p.isLocal ? ' (you)' : '');
      const badges = document.createElement('span');
      badges.className = 'badges';
      badges.textContent = [p.muted ? 'muted' : '', p.deafened ? 'deafened' : '']
        .filter(Boolean)
        .join(' · ');
      const quality = document.createElement('span');
      quality.className = 'quality';
      quality.dataset.quality = p.connectionQuality ?? 'good';
      quality.textContent = p.connectionQuality ?? '';
      li.append(dot, name, badges, quality);
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
  $('mute').setAttribute('aria-pressed', String(room.localParticipant.muted));
  $('mute').textContent = room.localParticipant.muted ? 'Unmute' : 'Mute';
  $('deafen').setAttribute('aria-pressed', String(room.localParticipant.deafened));
  $('deafen').textContent = room.localParticipant.deafened ? 'Undeafen' : 'Deafen';
}

// ---- live statistics: numbers once a second and a one-minute chart ----
const history = [];
let statsTimer;

function renderStats() {
  if (!client || typeof client.getStats !== 'function') return;
  const stats = client.getStats();
  const remote = Object.values(stats.participants ?? {});
  const mean = (key) =>
    remote.length ? remote.reduce((s, r) => s + (r[key] ?? 0), 0) / remote.length : NaN;
  const fmt = (v, unit, digits = 0) => (Number.isFinite(v) ? `${v.toFixed(digits)} ${unit}` : '–');
  $('stat-bitrate').textContent = fmt(stats.bitrateBps / 1000, 'kbps');
  $('stat-loss').textContent = fmt(mean('lossPct'), '%', 1);
  $('stat-jitter').textContent = fmt(mean('jitterMs'), 'ms', 1);
  $('stat-buffer').textContent = fmt(mean('jitterBufferDelayMs'), 'ms');
  $('rtt').textContent = fmt(stats.rttMs, 'ms', 1);
  $('stat-quality').textContent = stats.quality ?? '–';
  history.push({ kbps: stats.bitrateBps / 1000, rtt: stats.rttMs });
  if (history.length > 60) history.shift();
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
    history.forEach((h, i) => {
      const v = Number.isFinite(h[key]) ? h[key] : 0;
      const x = (i / 59) * (width - 4) + 2;
      const y = height - 4 - (Math.min(v, max) / max) * (height - 8);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  };
  line('kbps', 128, '#4f5bd5');
  line('rtt', 200, '#e08a1e');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError();
  const name = $('name').value.trim();
  const roomName = $('room').value.trim();
  localStorage.setItem('concord:name', name);
  $('join').disabled = true;
  try {
    // A token function, not a string: the SDK calls it again to refresh the session's token
    // before it expires and on every reconnect.
    const token = async () => {
      const res = await fetch(`/dev/token?name=${encodeURIComponent(name)}`);
      if (!res.ok)
        throw new Error(
          'this gateway does not hand out dev tokens (start it with --insecure-dev-auth)',
        );
      return (await res.json()).token;
    };
    await token(); // fail here, with that message, when there are no dev tokens
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/gateway`;
    client = new VoiceClient({ url, token });
    client.on('stateChange', (_prev, next) => {
      $('status').dataset.status = next;
      $('status').textContent = next;
    });
    client.on('rtt', (ms) => ($('rtt').textContent = `${ms.toFixed(1)} ms`));
    client.on('disconnected', (err) => err && showError(err.message));
    wireMicrophone();
    await client.connect();
    room = await client.join(roomName);
    for (const e of [
      'participantJoined',
      'participantLeft',
      'voiceStateChanged',
      'speakingChanged',
    ])
      room.on(e, render);
    room.on('connectionQualityChanged', render);
    room.on('left', () => {
      view.hidden = true;
      form.hidden = false;
      clearInterval(statsTimer);
    });
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
  const select = $('input-device');
  const devices = await client.localAudio.listInputDevices();
  select.replaceChildren(
    ...devices.map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `Microphone ${i + 1}`;
      return o;
    }),
  );
  if (client.localAudio.deviceId) select.value = client.localAudio.deviceId;
}

function wireMicrophone() {
  const audio = client.localAudio;
  audio.on('level', (db) => ($('level').value = Math.max(-80, db)));
  audio.on('talkingWhileMuted', () => ($('muted-warning').hidden = false));
  audio.on('speakingChanged', (speaking) => {
    if (!speaking) $('muted-warning').hidden = true;
  });
  audio.on('deviceChanged', () => refreshDevices());
  audio.on('error', (e) => showError(e.message));
  client.audio.on('autoplayBlocked', (e) => showError(e.message));
}

async function startMicrophone() {
  const audio = client?.localAudio;
  if (!audio || audio.state.status !== 'stopped') return;
  try {
    const stages = Object.fromEntries(
      ['aec', 'ns', 'agc'].map((s) => [s, $(`stage-${s}`).checked]),
    );
    await audio.start({ stages });
    audio.setMuted(room.localParticipant.muted);
    await refreshDevices();
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
    audio.stop();
    updateMicButton();
  } else await startMicrophone();
});

$('input-device').addEventListener('change', (e) =>
  client?.localAudio.setInputDevice(e.target.value).catch((err) => showError(err.message)),
);
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
  view.hidden = true;
  form.hidden = false;
});

// Tests and curious developers can reach the live objects.
globalThis.concordExample = {
  get client() {
    return client;
  },
  get room() {
    return room;
  },
};
