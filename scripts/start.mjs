// `npm start`: installs and builds when needed, then runs the gateway with in-memory state and
// the example voice-room page on http://127.0.0.1:8080 (insecure dev tokens: local use only),
// and the docs site at /docs. Extra arguments go to the gateway (`npm start -- --port 9000`).
// - The build runs only when a source changed since the last one (scripts/freshness.mjs);
// - the URL is printed once the gateway says it listens (its {"event":"listening",…} line), with
//   the port it really bound;
// - the docs site (`npm run docs`) is rebuilt in the background when its sources changed; until
//   it is ready /docs/ shows a page saying so;
// - the first time, the mediasoup worker (WebRTC SFU) builds in the background meanwhile
//   ("[mediasoup]" progress lines); the gateway sees it appear (.mediasoup/worker.json).
// - with CONCORD_SECRET set, the token server example (examples/token-server) runs too and the
//   voice room's URL asks it for tokens (`?tokenServer=`) instead of the dev route.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build, ensureNodeModules, startMediasoupBuild } from './ensure-install.mjs';
import { buildStaleness, docsStaleness } from './freshness.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const started = performance.now();
ensureNodeModules(root);
const stale = buildStaleness(root);
if (stale === undefined) console.log('build is up to date: skipping npm run build');
else {
  console.log(`building: ${stale}`);
  build(root);
}
const mediasoupBuild = startMediasoupBuild(root);

// The docs site: served from dist/docs/, rebuilt in the background when stale.
const docsDir = join(root, 'dist', 'docs');
const docsStale = docsStaleness(root);
let docsBuild;
if (docsStale !== undefined) {
  if (!existsSync(join(docsDir, 'index.html'))) {
    mkdirSync(docsDir, { recursive: true });
    writeFileSync(
      join(docsDir, 'index.html'),
      '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5">' +
        '<title>Concord docs</title><p>The docs are being built (<code>npm run docs</code>); ' +
        'this page reloads until they are ready.</p>',
    );
  }
  const log = join(root, 'dist', 'docs-build.log');
  const out = createWriteStream(log);
  docsBuild = spawn(process.execPath, [join(root, 'scripts', 'docs.mjs')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  docsBuild.stdout.pipe(out);
  docsBuild.stderr.pipe(out);
  console.log(`[docs] building the docs site in the background (${docsStale}); log: ${log}`);
}

const defaultPort = process.env.CONCORD_PORT ?? '8080';
const child = spawn(
  process.execPath,
  [
    'packages/gateway/dist/cli.js',
    '--port',
    defaultPort,
    '--insecure-dev-auth',
    '--static',
    '/sdk/=packages/sdk/dist',
    '--static',
    '/docs/=dist/docs',
    '--static',
    '/party-chat/=examples/party-chat',
    '--static',
    '/=examples/voice-room',
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: ['inherit', 'pipe', 'pipe'] },
);

let baseUrl;
createInterface({ input: child.stdout }).on('line', (line) => {
  console.log(line);
  if (baseUrl !== undefined || !line.startsWith('{"event":"listening"')) return;
  const { host, port } = JSON.parse(line);
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  baseUrl = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  void startTokenServer(baseUrl).then((tokenUrl) => {
    const page = tokenUrl ? `${baseUrl}/?tokenServer=${tokenUrl}` : `${baseUrl}/`;
    console.log(
      `\nConcord voice room: ${page}   party chat: ${baseUrl}/party-chat/   docs: ${baseUrl}/docs/   (ready in ${seconds} s; Ctrl+C to stop)\n`,
    );
  });
});

// With the gateway's secret in the environment, tokens come from the token server example, as
// an app's backend would mint them. Resolves with its URL (undefined: no secret, or it failed).
let tokenServer;
async function startTokenServer(pageOrigin) {
  const secret = process.env.CONCORD_SECRET;
  if (!secret) return undefined;
  try {
    const { createTokenServer } = await import('../examples/token-server/server.mjs');
    tokenServer = createTokenServer({ secret, allowedOrigins: [pageOrigin] });
    const port = Number(process.env.CONCORD_TOKEN_PORT ?? 8090);
    await new Promise((resolve, reject) => {
      tokenServer.once('error', reject);
      tokenServer.listen(port, '127.0.0.1', resolve);
    });
    const url = `http://127.0.0.1:${tokenServer.address().port}`;
    console.log(`[tokens] token server (examples/token-server): ${url}/token`);
    return url;
  } catch (err) {
    console.error(`[tokens] the token server did not start: ${err.message}; using dev tokens`);
    return undefined;
  }
}
let portInUse;
createInterface({ input: child.stderr }).on('line', (line) => {
  console.error(line);
  const taken = /port (\d+) on .* is already in use/.exec(line);
  if (taken) portInUse = Number(taken[1]);
});
docsBuild?.on('exit', (code, signal) => {
  if (signal !== null) return; // stopped along with npm start: the next start builds again
  if (code !== 0)
    console.log(`[docs] the docs build failed (exit ${code}): see dist/docs-build.log`);
  else console.log(`[docs] ready${baseUrl === undefined ? '' : `: ${baseUrl}/docs/`}`);
});

for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    child.kill(signal);
    mediasoupBuild?.kill(signal); // an interrupted build resumes next time
    docsBuild?.kill(signal);
    tokenServer?.close();
  });
child.on('close', (code) => {
  if (portInUse !== undefined)
    console.error(
      `With npm start: \`npm start -- --port ${portInUse + 1}\`, or \`CONCORD_PORT=${portInUse + 1} npm start\` (0 = any free port).`,
    );
  if (mediasoupBuild && mediasoupBuild.exitCode === null) mediasoupBuild.kill('SIGTERM');
  if (docsBuild && docsBuild.exitCode === null) docsBuild.kill('SIGTERM');
  tokenServer?.close();
  process.exit(code ?? 0);
});
