// Runs inside the blank project that installed the packed tarballs (scripts/pack-smoke.mjs
// copies it there): everything below resolves from that project's node_modules, as in a user's
// app. Node: the installed bins (concord-gateway, concord-dsp), the SDK over `ws`, a token from
// the CLI and one from the gateway's API. Chromium: a page served by the installed gateway's
// --static imports @concord/sdk/browser and joins the same room. Prints one JSON line per check.
import { execFile, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { mintToken } from '@concord/gateway';
import { VoiceClient } from '@concord/sdk';
import { ParticipantRecorder, PcmSource } from '@concord/sdk/node';
import { chromiumLaunchOptions, whiteNoise, writeWavFile } from '@concord/testing';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const run = promisify(execFile);
const bin = (name) => join('node_modules', '.bin', name);
const SECRET = 'pack-smoke-secret-pack-smoke-secret-0123456789';
const ROOM = 'smoke';
const withBrowser = !process.argv.includes('--no-browser');

const check = (name, ok, detail = {}) => {
  console.log(JSON.stringify({ check: name, ok, ...detail }));
  if (!ok) throw new Error(`${name} failed: ${JSON.stringify(detail)}`);
};

/** Resolves when `emitter` emits `event` with arguments `accept` takes, rejects after `ms`. */
const waitFor = (emitter, event, accept, ms, what) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    const listener = (...args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });

// 1. The bins, as `npx` runs them.
const help = await run(bin('concord-gateway'), ['--help']);
check('concord-gateway --help', help.stdout.includes('concord-gateway token --user ID'));
const typo = await run(bin('concord-gateway'), ['--prot', '1']).catch((err) => err);
check('concord-gateway suggests a flag', /Did you mean --port\?/.test(typo.stderr ?? ''), {
  stderr: typo.stderr,
});
const wav = writeWavFile(join('tmp', 'noise.wav'), whiteNoise(48_000, 1), 48_000);
await run(bin('concord-dsp'), ['process', '--in', wav, '--out', join('tmp', 'clean.wav')]);
check('concord-dsp process', existsSync(join('tmp', 'clean.wav')), {
  bytes: statSync(join('tmp', 'clean.wav')).size,
});

// 2. The installed gateway, serving the page and the installed SDK's browser files.
const gateway = spawn(
  bin('concord-gateway'),
  [
    '--port',
    '0',
    '--log-level',
    'warn',
    '--static',
    '/sdk/=node_modules/@concord/sdk/dist',
    '--static',
    '/=page',
  ],
  { env: { ...process.env, CONCORD_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'inherit'] },
);
let browser;
let client;
try {
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start in 10 s')), 10_000);
    gateway.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
    createInterface({ input: gateway.stdout }).on('line', (line) => {
      if (!line.includes('"event":"listening"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line).port);
    });
  });
  const url = `ws://127.0.0.1:${port}/gateway`;
  check('gateway listening', port > 0, { port });

  // 3. Node: a token from the CLI, the SDK over `ws`.
  const { stdout: botToken } = await run(
    bin('concord-gateway'),
    ['token', '--user', 'node-bot', '--rooms', ROOM, '--ttl', '600'],
    { env: { ...process.env, CONCORD_SECRET: SECRET } },
  );
  // The Node audio helpers (@concord/sdk/node) as a bot uses them.
  const source = new PcmSource();
  source.play(new Float32Array(960).fill(0.1));
  check('@concord/sdk/node PcmSource', source.pull().samples.length === 960);
  client = new VoiceClient({
    url,
    token: botToken.trim(),
    WebSocket,
    media: { frameSource: source, playbackSink: new ParticipantRecorder() },
  });
  await client.connect();
  const room = await client.join(ROOM);
  check('node client joined', room.participants.has('node-bot'), {
    participants: [...room.participants.keys()],
  });

  // 4. Chromium: the page imports @concord/sdk/browser and joins the same room.
  if (withBrowser) {
    const pageToken = await mintToken(SECRET, { userId: 'page-user', rooms: [ROOM] });
    const joined = waitFor(
      room,
      'participantJoined',
      (p) => p.userId === 'page-user',
      20_000,
      'page-user',
    );
    browser = await chromium.launch(chromiumLaunchOptions());
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    const hash = new URLSearchParams({ url, token: pageToken, room: ROOM });
    await page.goto(`http://127.0.0.1:${port}/#${hash}`);
    const result = await page.evaluate(() => window.smokeResult);
    check('page joined over @concord/sdk/browser', result.error === undefined, result);
    check('page sees the node client', result.participants.includes('node-bot'), result);
    check('page is cross-origin isolated', result.crossOriginIsolated === true, result);
    check(
      'page microphone live, beep heard by the capture chain',
      result.localAudio === 'live' && result.levelDbfs > -60,
      result,
    );
    await joined;
    check('node client sees the page', room.participants.has('page-user'), {
      participants: [...room.participants.keys()],
    });
    check('no page errors', errors.length === 0, { errors });
  }
} finally {
  await client?.disconnect().catch(() => {});
  await browser?.close().catch(() => {});
  gateway.kill('SIGTERM');
}
