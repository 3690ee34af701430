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
      li.append(dot, name, badges);
      return li;
    }),
  );
  $('mute').setAttribute('aria-pressed', String(room.localParticipant.muted));
  $('mute').textContent = room.localParticipant.muted ? 'Unmute' : 'Mute';
  $('deafen').setAttribute('aria-pressed', String(room.localParticipant.deafened));
  $('deafen').textContent = room.localParticipant.deafened ? 'Undeafen' : 'Deafen';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError();
  const name = $('name').value.trim();
  const roomName = $('room').value.trim();
  localStorage.setItem('concord:name', name);
  $('join').disabled = true;
  try {
    const res = await fetch(`/dev/token?name=${encodeURIComponent(name)}`);
    if (!res.ok)
      throw new Error(
        'this gateway does not hand out dev tokens (start it with --insecure-dev-auth)',
      );
    const { token } = await res.json();
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
    room.on('left', () => {
      view.hidden = true;
      form.hidden = false;
    });
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

$('mic').addEventListener('click', async () => {
  const audio = client?.localAudio;
  if (!audio) return;
  try {
    if (audio.state.status === 'live') audio.stop();
    else {
      const stages = Object.fromEntries(
        ['aec', 'ns', 'agc'].map((s) => [s, $(`stage-${s}`).checked]),
      );
      await audio.start({ stages });
      audio.setMuted(room.localParticipant.muted);
      await refreshDevices();
    }
  } catch (err) {
    showError(err.message);
  }
  const live = audio.state.status === 'live';
  $('mic').setAttribute('aria-pressed', String(live));
  $('mic').textContent = live ? 'Stop microphone' : 'Start microphone';
  if (!live) $('level').value = -80;
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
