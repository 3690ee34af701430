// Concord party chat: a small browser game. Players walk on a map (arrow keys or WASD), talk
// with push-to-talk (hold Space), and hear each other from where they stand: binaural spatial
// audio rendered in Concord's playback worklet (participant.setPosition /
// client.audio.setListener) with proximity (full level up close, quieter with distance, silent
// beyond a radius). Served by the gateway (`--static /party-chat/=examples/party-chat`).
//
// Positions travel between the players' pages on a BroadcastChannel (same browser profile: open
// several tabs). The gateway protocol has no app-data message yet; a real deployment would send
// positions through its own game server or a future gateway op. See docs/guides/party-chat.md.
import { VoiceClient, proximityGain, resolveProximity, setLogLevel } from '/sdk/concord.browser.js';

const params = new URLSearchParams(location.search);
setLogLevel(params.has('debug') ? 'debug' : 'warn');

// The world, in metres: x east (right on the map), y north (up on the map).
const MAP_W_M = 32;
const MAP_H_M = 20;
const PX_PER_M = 20;
const SPEED_M_PER_S = 5;
const PLAYER_RADIUS_M = 0.5;
// Full level within 1.5 m, −6 dB per doubling of distance beyond, silent from 12 m.
const PROXIMITY = { refDistanceM: 1.5, rolloffFactor: 1, maxDistanceM: 12, fadeM: 2 };
// The listener always faces up the map, so a player left of you on screen is in your left ear.
const HEADING_NORTH = Math.PI / 2;
// Positions are shared at most this often while moving, and re-announced this often at rest.
const SEND_EVERY_MS = 50;
const ANNOUNCE_EVERY_MS = 1000;

const $ = (id) => document.getElementById(id);
const canvas = $('map');
const proximity = resolveProximity(PROXIMITY);
let client;
let room;
let channel;
let userId;
const me = { x: 0, y: 0 };
/** Other players' last known positions, by user id. */
const others = new Map();
const held = new Set();
let talking = false;
let lastSentMs = 0;
let moved = false;
let announceTimer;
let frame;

$('name').value = localStorage.getItem('concord:name') ?? '';

function showError(message) {
  $('error').hidden = !message;
  $('error').textContent = message ?? '';
}

// ---- positions between players ----
function openChannel(roomName) {
  const ch = new BroadcastChannel(`concord-party-chat:${roomName}`);
  ch.onmessage = (e) => {
    const m = e.data;
    if (typeof m?.userId !== 'string' || m.userId === userId) return;
    if (!Number.isFinite(m.x) || !Number.isFinite(m.y)) return;
    const x = clamp(m.x, 0, MAP_W_M);
    const y = clamp(m.y, 0, MAP_H_M);
    others.set(m.userId, { x, y });
    room?.participants.get(m.userId)?.setPosition({ x, y });
    if (m.hello) sendPosition();
  };
  return ch;
}

function sendPosition(hello = false) {
  lastSentMs = performance.now();
  channel?.postMessage({ userId, x: me.x, y: me.y, ...(hello ? { hello: true } : {}) });
}

function placeListener() {
  client.audio.setListener({ position: { x: me.x, y: me.y }, heading: HEADING_NORTH });
}

/** Moves this player (metres, clamped to the map); also used by tests. */
function moveTo(x, y) {
  me.x = clamp(x, 0, MAP_W_M);
  me.y = clamp(y, 0, MAP_H_M);
  placeListener();
  sendPosition();
}

// ---- push-to-talk ----
function setTalking(live) {
  if (!room || live === talking) return;
  talking = live;
  $('ptt').dataset.live = String(live);
  $('ptt').innerHTML = live
    ? 'Live — release <kbd>Space</kbd> to mute'
    : 'Hold <kbd>Space</kbd> to talk';
  if (live) $('muted-warning').hidden = true;
  room.setMuted(!live).catch((e) => showError(e.message));
}

const MOVE_KEYS = {
  ArrowUp: [0, 1],
  KeyW: [0, 1],
  ArrowDown: [0, -1],
  KeyS: [0, -1],
  ArrowLeft: [-1, 0],
  KeyA: [-1, 0],
  ArrowRight: [1, 0],
  KeyD: [1, 0],
};

window.addEventListener('keydown', (e) => {
  if (!room || e.target instanceof HTMLInputElement) return;
  if (e.code === 'Space') {
    e.preventDefault();
    if (!e.repeat) setTalking(true);
  } else if (e.code in MOVE_KEYS) {
    e.preventDefault();
    held.add(e.code);
  }
});
window.addEventListener('keyup', (e) => {
  if (e.code === 'Space') setTalking(false);
  held.delete(e.code);
});
// A key released while the window was in the background never sends keyup: stop everything.
window.addEventListener('blur', () => {
  held.clear();
  setTalking(false);
});

// ---- game loop ----
function tick(now, last) {
  const dt = Math.min(0.1, (now - last) / 1000);
  let dx = 0;
  let dy = 0;
  for (const code of held) {
    dx += MOVE_KEYS[code][0];
    dy += MOVE_KEYS[code][1];
  }
  if (dx || dy) {
    const n = Math.hypot(dx, dy);
    me.x = clamp(me.x + (dx / n) * SPEED_M_PER_S * dt, 0, MAP_W_M);
    me.y = clamp(me.y + (dy / n) * SPEED_M_PER_S * dt, 0, MAP_H_M);
    placeListener();
    moved = true;
  }
  if (moved && now - lastSentMs >= SEND_EVERY_MS) {
    moved = false;
    sendPosition();
  }
  draw();
  frame = requestAnimationFrame((t) => tick(t, now));
}

const toPx = (x, y) => [x * PX_PER_M, (MAP_H_M - y) * PX_PER_M];

function draw() {
  const g = canvas.getContext('2d');
  g.fillStyle = '#f7f3e8';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = '#e6dfcc';
  g.lineWidth = 1;
  for (let m = 0; m <= MAP_W_M; m += 2) {
    g.beginPath();
    g.moveTo(m * PX_PER_M, 0);
    g.lineTo(m * PX_PER_M, canvas.height);
    g.stroke();
  }
  for (let m = 0; m <= MAP_H_M; m += 2) {
    g.beginPath();
    g.moveTo(0, m * PX_PER_M);
    g.lineTo(canvas.width, m * PX_PER_M);
    g.stroke();
  }
  // Hearing range: beyond the circle nobody is heard.
  const [mx, my] = toPx(me.x, me.y);
  g.fillStyle = '#4f5bd50d';
  g.strokeStyle = '#4f5bd566';
  g.setLineDash([6, 6]);
  g.beginPath();
  g.arc(mx, my, proximity.maxDistanceM * PX_PER_M, 0, 2 * Math.PI);
  g.fill();
  g.stroke();
  g.setLineDash([]);
  const list = [];
  for (const p of room?.participants.values() ?? []) {
    const pos = p.isLocal ? me : others.get(p.userId);
    if (!pos) continue;
    const [x, y] = toPx(pos.x, pos.y);
    const active = p.isLocal ? talking : p.speaking;
    if (active) {
      g.fillStyle = '#1f9d5544';
      g.beginPath();
      g.arc(x, y, (PLAYER_RADIUS_M + 0.5) * PX_PER_M, 0, 2 * Math.PI);
      g.fill();
    }
    g.fillStyle = p.isLocal ? '#4f5bd5' : p.muted ? '#9aa3b5' : '#e08a1e';
    g.beginPath();
    g.arc(x, y, PLAYER_RADIUS_M * PX_PER_M, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = '#1d2330';
    g.font = '12px system-ui, sans-serif';
    g.textAlign = 'center';
    // Your own label below your dot, the others' above theirs: neighbours' names do not collide.
    const labelY = p.isLocal
      ? y + PLAYER_RADIUS_M * PX_PER_M + 14
      : y - PLAYER_RADIUS_M * PX_PER_M - 6;
    g.fillText(p.isLocal ? `${p.name} (you)` : p.name, x, labelY);
    if (!p.isLocal) list.push({ p, d: Math.hypot(pos.x - me.x, pos.y - me.y) });
  }
  renderPlayers(list);
}

let playersKey = '';
function renderPlayers(list) {
  const rows = list.map(({ p, d }) => {
    const gain = proximityGain(d, proximity);
    const level = gain > 0 ? `${(20 * Math.log10(gain)).toFixed(0)} dB` : 'out of range';
    return { id: p.userId, speaking: p.speaking, text: `${p.name} · ${d.toFixed(1)} m · ${level}` };
  });
  const key = JSON.stringify(rows);
  if (key === playersKey) return;
  playersKey = key;
  $('players').replaceChildren(
    ...rows.map((r) => {
      const li = document.createElement('li');
      li.dataset.userId = r.id;
      li.dataset.speaking = String(r.speaking);
      li.textContent = r.text;
      return li;
    }),
  );
}

// ---- joining ----
$('join-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError();
  const name = $('name').value.trim();
  const roomName = $('room').value.trim();
  localStorage.setItem('concord:name', name);
  $('join').disabled = true;
  try {
    const token = async () => {
      const res = await fetch(`/dev/token?name=${encodeURIComponent(name)}`);
      if (!res.ok)
        throw new Error(
          'this gateway does not hand out dev tokens (start it with --insecure-dev-auth)',
        );
      return (await res.json()).token;
    };
    await token();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/gateway`;
    client = new VoiceClient({ url, token, audio: { proximity: PROXIMITY } });
    client.on('stateChange', (_prev, next) => {
      $('status').dataset.status = next;
      $('status').textContent = next;
    });
    client.on('disconnected', (err) => err && showError(err.message));
    client.audio.on('autoplayBlocked', () => showError('Click anywhere to enable audio.'));
    client.audio.on('running', () => showError());
    await client.connect();
    userId = client.user.id;
    room = await client.join(roomName);
    // Push-to-talk: muted until Space is held.
    await room.setMuted(true);
    const start = randomSpot(userId);
    me.x = Number(params.get('x') ?? start.x);
    me.y = Number(params.get('y') ?? start.y);
    placeListener();
    channel = openChannel(roomName);
    sendPosition(true);
    announceTimer = setInterval(() => sendPosition(), ANNOUNCE_EVERY_MS);
    room.on('participantJoined', (p) => {
      const pos = others.get(p.userId);
      if (pos) p.setPosition(pos);
      sendPosition();
    });
    room.on('participantLeft', (p) => others.delete(p.userId));
    room.on('left', leave);
    const audio = client.localAudio;
    audio.on('talkingWhileMuted', () => ($('muted-warning').hidden = false));
    audio.on('error', (e) => showError(e.message));
    // The Join click is a user gesture: start the microphone (and the audio engine) now.
    // ?stages=vad (say) turns Concord's other capture stages off, as the e2e does.
    const enabled = (params.get('stages') ?? 'aec,ns,agc,vad').split(',');
    const stages = Object.fromEntries(
      ['aec', 'ns', 'agc', 'vad'].map((s) => [s, enabled.includes(s)]),
    );
    await audio.start({ stages });
    audio.setMuted(true);
    $('join-form').hidden = true;
    $('game').hidden = false;
    canvas.focus();
    frame = requestAnimationFrame((t) => tick(t, t));
  } catch (err) {
    showError(err.message);
    client?.disconnect();
  } finally {
    $('join').disabled = false;
  }
});

function leave() {
  cancelAnimationFrame(frame);
  clearInterval(announceTimer);
  channel?.close();
  channel = undefined;
  others.clear();
  talking = false;
  room = undefined;
  $('game').hidden = true;
  $('join-form').hidden = false;
}

$('leave').addEventListener('click', async () => {
  await client?.disconnect();
  leave();
});

function randomSpot(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return { x: 4 + (h % 24), y: 4 + ((h >>> 8) % 12) };
}

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

// Tests and curious developers can reach the live objects.
globalThis.partyChat = {
  get client() {
    return client;
  },
  get room() {
    return room;
  },
  get me() {
    return { ...me };
  },
  get talking() {
    return talking;
  },
  others,
  moveTo,
};
