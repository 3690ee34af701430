#!/usr/bin/env node
// Concord Node bot: joins a voice room, says something (a WAV file, or speech generated with
// espeak-ng, or a short chime when espeak-ng is missing), records every other participant to
// its own WAV file, and shows as speaking while it talks — all through the SDK's public API
// (`@concord/sdk` and its Node audio helpers in `@concord/sdk/node`).
//
//   node examples/node-bot/bot.mjs --room lobby --say "Hello from the bot" --record recordings
//
// Run `npm start` first (gateway and example page on http://127.0.0.1:8080), then open the page
// and join the same room. `--help` lists every option.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SpeakingHangover, VoiceClient } from '@concord/sdk';
import { ParticipantRecorder, PcmSource, readWavFile } from '@concord/sdk/node';
import WebSocket from 'ws';

const OPTIONS = {
  url: { type: 'string', default: 'ws://127.0.0.1:8080/gateway', help: 'gateway WebSocket URL' },
  room: { type: 'string', default: 'lobby', help: 'room to join' },
  name: { type: 'string', default: 'Concord bot', help: 'display name' },
  user: { type: 'string', help: 'user id (default: bot-<random>)' },
  token: {
    type: 'string',
    help: 'access token (default: $CONCORD_TOKEN, else from --token-server, else a dev token)',
  },
  'token-server': { type: 'string', help: 'token server base URL (examples/token-server)' },
  wav: { type: 'string', help: 'WAV file to play (any rate, mono or stereo)' },
  say: { type: 'string', help: 'text to speak with espeak-ng (default: a greeting)' },
  loop: { type: 'boolean', default: false, help: 'repeat the audio (1 s apart) until stopped' },
  record: { type: 'string', default: 'recordings', help: 'folder for <userId>.wav recordings' },
  duration: { type: 'string', help: 'leave after this many seconds (default: run until Ctrl-C)' },
  help: { type: 'boolean', short: 'h', default: false, help: 'show this help' },
};

function usage() {
  const lines = Object.entries(OPTIONS).map(
    ([k, o]) => `  --${k}${o.type === 'string' ? ' <value>' : ''}`.padEnd(28) + o.help,
  );
  return `Usage: node examples/node-bot/bot.mjs [options]\n\n${lines.join('\n')}\n`;
}

const log = (msg) => console.log(`[bot ${new Date().toISOString().slice(11, 23)}] ${msg}`);

/** A token: explicit, from the token server, from the gateway's dev route, or `dev:` form. */
async function getToken({ token, tokenServer, url, userId, name, room }) {
  if (token) return token;
  const query = new URLSearchParams({ user: userId, name, room });
  if (tokenServer) {
    const res = await fetch(`${tokenServer.replace(/\/$/, '')}/token?${query}`);
    if (!res.ok) throw new Error(`the token server refused: HTTP ${res.status}`);
    return (await res.json()).token;
  }
  // A gateway in dev mode (`npm start`) mints tokens for loopback clients at /dev/token.
  const http = new URL(url);
  http.protocol = http.protocol === 'wss:' ? 'https:' : 'http:';
  http.pathname = '/dev/token';
  http.search = query.toString();
  const res = await fetch(http).catch(() => undefined);
  if (res?.ok) return (await res.json()).token;
  return `dev:${userId}:${name}`; // unsigned dev token (gateway with --insecure-dev-auth)
}

/** What the bot says: a WAV file, espeak-ng speech, or a chime (48 kHz mono samples). */
async function loadAudio({ wav, say }) {
  if (wav) return readWavFile(wav);
  const text = say ?? 'Hello, I am the Concord bot. I record everyone in this room.';
  const dir = mkdtempSync(join(tmpdir(), 'concord-bot-'));
  try {
    const out = join(dir, 'say.wav');
    const r = spawnSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', out, text]);
    if (r.status === 0) return await readWavFile(out);
    log('espeak-ng is not installed: playing a chime instead of speech');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Three 880 Hz notes of 200 ms, 100 ms apart, with 10 ms fades.
  const x = new Float32Array(48_000);
  for (let n = 0; n < 3; n++) {
    for (let i = 0; i < 9_600; i++) {
      const fade = Math.min(1, i / 480, (9_600 - i) / 480);
      x[n * 14_400 + i] = 0.3 * fade * Math.sin((2 * Math.PI * 880 * i) / 48_000);
    }
  }
  return x;
}

/**
 * Runs the bot until `signal` aborts (or `durationMs` passes); resolves with the recordings
 * written.
 */
export async function runBot(opts, signal) {
  const userId = opts.user ?? `bot-${Math.random().toString(16).slice(2, 8)}`;
  const audio = await loadAudio(opts);
  const source = new PcmSource();
  const recorder = new ParticipantRecorder();
  const names = new Map();
  const token = () =>
    getToken({
      token: opts.token ?? process.env.CONCORD_TOKEN,
      tokenServer: opts['token-server'],
      url: opts.url,
      userId,
      name: opts.name,
      room: opts.room,
    });
  // Node clients carry voice over the gateway's WebSocket.
  const client = new VoiceClient({
    url: opts.url,
    token,
    WebSocket,
    media: { path: 'websocket', frameSource: source, playbackSink: recorder },
  });
  client.on('disconnected', (err) => err && log(`disconnected: ${err.message}`));
  await client.connect();
  const room = await client.join(opts.room);
  log(`joined "${room.name}" as ${opts.name} (${client.user?.id})`);
  for (const p of room.remoteParticipants) names.set(p.userId, p.name);
  log(`in the room: ${[...names.values()].join(', ') || 'nobody else yet'}`);
  room.on('participantJoined', (p) => {
    names.set(p.userId, p.name);
    log(`${p.name} joined`);
  });
  room.on('participantLeft', (p) => log(`${p.name} left`));
  room.on('speakingChanged', (p, speaking) => {
    if (!p.isLocal) log(`${p.name} ${speaking ? 'speaks' : 'stopped speaking'}`);
  });

  // Speaking indicator from the bot's own voice activity, with the SDK's hangover so that one
  // sentence is one speaking period for everyone in the room.
  const hangover = new SpeakingHangover((speaking) => {
    if (room.state === 'joined') room.setSpeaking(speaking);
  });
  source.on('voiceActivity', (active) => hangover.update(active));
  source.on('drained', () => {
    if (opts.loop) setTimeout(() => source.play(audio), 1_000);
  });
  source.start();
  source.play(audio);
  log(`playing ${(audio.length / 48_000).toFixed(1)} s of audio${opts.loop ? ' in a loop' : ''}`);

  await new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', resolve, { once: true });
  });
  hangover.reset();
  source.close();
  await client.disconnect();
  const written = recorder.writeWavFiles(opts.record);
  for (const path of written) log(`recorded ${path}`);
  if (written.length === 0) log('nobody spoke: no recordings');
  return written;
}

async function main() {
  let opts;
  try {
    ({ values: opts } = parseArgs({ options: OPTIONS, strict: true }));
  } catch (err) {
    console.error(`${err.message}\n\n${usage()}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(usage());
    return;
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  if (opts.duration !== undefined) {
    const seconds = Number(opts.duration);
    if (!(seconds > 0)) {
      console.error(`--duration must be a positive number of seconds, got "${opts.duration}"`);
      process.exit(2);
    }
    setTimeout(() => controller.abort(), seconds * 1000).unref();
  }
  try {
    await runBot(opts, controller.signal);
  } catch (err) {
    console.error(
      `bot failed: ${err.message}${err.cause ? ` (${err.cause.message ?? err.cause})` : ''}`,
    );
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
