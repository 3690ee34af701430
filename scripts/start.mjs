// `npm start`: installs and builds when needed, then runs the gateway with in-memory state and
// the example voice-room page on http://127.0.0.1:8080 (insecure dev tokens: local use only).
// The first time, the mediasoup worker (WebRTC SFU) builds in the background meanwhile
// ("[mediasoup]" progress lines); the gateway sees it appear (.mediasoup/worker.json).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build, ensureNodeModules, startMediasoupBuild } from './ensure-install.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
ensureNodeModules(root);
build(root);
const mediasoupBuild = startMediasoupBuild(root);

const port = process.env.CONCORD_PORT ?? '8080';
const child = spawn(
  process.execPath,
  [
    'packages/gateway/dist/cli.js',
    '--port',
    port,
    '--insecure-dev-auth',
    '--static',
    '/sdk/=packages/sdk/dist',
    '--static',
    '/=examples/voice-room',
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
);
console.log(`\nConcord voice room: http://127.0.0.1:${port}/  (Ctrl+C to stop)\n`);
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    child.kill(signal);
    mediasoupBuild?.kill(signal); // an interrupted build resumes next time
  });
child.on('exit', (code) => {
  if (mediasoupBuild && mediasoupBuild.exitCode === null) mediasoupBuild.kill('SIGTERM');
  process.exit(code ?? 0);
});
