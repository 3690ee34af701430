// Builds the mediasoup SFU worker offline, once, into .mediasoup/ at the repo root (gitignored).
//
// Why not a normal dependency: mediasoup ≥ 3.9 downloads its build dependencies (meson
// subprojects, pip packages) and its prebuilt workers from GitHub, which this project's machines
// cannot reach; 3.8.4 is the last release whose tarball holds every C++ dependency (gyp build).
// As a workspace dependency npm would run its postinstall (which fails on Python ≥ 3.10 and
// glibc ≥ 2.34 without the two fixes below), and every `npm ci` would wipe a worker built inside
// node_modules. So scripts/mediasoup/ pins it (package.json + lockfile, no registry URLs) and
// this script:
//   1. `npm ci --ignore-scripts` of that pin into .mediasoup/ (when missing or changed),
//   2. links a copy of the worker sources into .mediasoup/worker/ (`cp -al`: no extra disk) and
//      applies FIXES there (patched files are rewritten, never written through a hard link),
//   3. runs `make` (PYTHON=/usr/bin/python3, one job per core) with progress and an estimate on
//      the terminal and the full log in .mediasoup/build.log,
//   4. records .mediasoup/worker.json (version, fixes, worker path): with it and the worker
//      present, the next run returns at once.
// While it builds, .mediasoup/status.json says so ({ state: 'building', pid, done, total, … });
// after a failure it holds { state: 'failed', log, error }. The gateway's SFU module
// (packages/gateway/src/sfu/mediasoupLoader.ts) reads the same two files.
//
// CLI: `node scripts/ensure-mediasoup.mjs [--lines] [--prefix]` (or `npm run mediasoup`): exit
// code 0 when the worker is ready; `--lines` prints progress as lines every 15 s instead of one
// line updated in place on a terminal, `--prefix` starts lines with "[mediasoup]". An
// interrupted build resumes from the objects already compiled. Needs make, g++ and Debian's python3: installed with apt-get when missing and running
// as root, like scripts/system-deps.mjs; otherwise the command to run is printed.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pinned mediasoup release (scripts/mediasoup/package.json). */
export const MEDIASOUP_VERSION = '3.8.4';

/**
 * Source fixes applied to the copy of the worker sources before building (idempotent: `from`
 * is never a substring of `to`).
 */
export const FIXES = [
  {
    // Python 3.10 removed the aliases of collections.abc from collections.
    id: 'gyp-collections-abc',
    file: 'deps/gyp/pylib/gyp/common.py',
    from: 'collections.MutableSet',
    to: 'collections.abc.MutableSet',
  },
  {
    // glibc 2.34 made SIGSTKSZ a long (sysconf), so std::max(long, int) no longer deduces.
    id: 'abseil-sigstksz',
    file: 'deps/libwebrtc/deps/abseil-cpp/abseil-cpp/absl/debugging/failure_signal_handler.cc',
    from: 'std::max(SIGSTKSZ, 65536)',
    to: 'std::max<size_t>(SIGSTKSZ, 65536)',
  },
];

/**
 * Lines make prints for a full 3.8.4 worker build on Linux x64 (784 CC, 235 CXX, 7 AR, 7 COPY,
 * 1 LINK), counted from a complete build log; the progress counter's denominator.
 */
export const BUILD_STEPS = 1034;
/**
 * For the time estimate: objects per library in a full build, and the relative cost of one
 * (seconds per object measured in a build log here, relative to an openssl C file ≈ 0.14 s):
 * mediasoup's own C++ files take ~3.4 s each and come last, so counting lines alone would
 * promise the end far too early.
 */
const LIBRARY_STEPS = {
  openssl: [705, 1],
  'mediasoup-worker': [114, 24],
  abseil: [77, 3],
  libwebrtc: [44, 6],
  libuv: [36, 1],
  usrsctp: [23, 4],
  libsrtp: [19, 1],
};
const OTHER_STEP_WEIGHT = 1;
const LINK_WEIGHT = 10;
const TOTAL_WEIGHT =
  Object.values(LIBRARY_STEPS).reduce((sum, [n, w]) => sum + n * w, 0) +
  (BUILD_STEPS - Object.values(LIBRARY_STEPS).reduce((sum, [n]) => sum + n, 0) - 1) *
    OTHER_STEP_WEIGHT +
  LINK_WEIGHT;
/** Weight of one step line of make's output. */
function stepWeight(kind, line) {
  if (kind === 'LINK') return LINK_WEIGHT;
  const lib = /obj\.target\/([^/]+)\//.exec(line)?.[1];
  return (lib !== undefined && LIBRARY_STEPS[lib]?.[1]) || OTHER_STEP_WEIGHT;
}
const STEP_LINE = /^\s+(CC|CXX|AR|COPY|LINK|SOLINK|ACTION|TOUCH)\b/;
const PYTHON = '/usr/bin/python3';
/** Debian package → a command it provides. */
const BUILD_PACKAGES = { 'build-essential': ['make', 'g++'], python3: [PYTHON] };

/** Paths of the project-managed install under `root`. */
export function mediasoupPaths(root) {
  const dir = join(root, '.mediasoup');
  return {
    dir,
    pin: join(root, 'scripts', 'mediasoup'),
    module: join(dir, 'node_modules', 'mediasoup'),
    workerSrc: join(dir, 'worker'),
    workerBin: join(dir, 'worker', 'out', 'Release', 'mediasoup-worker'),
    marker: join(dir, 'worker.json'),
    status: join(dir, 'status.json'),
    lock: join(dir, 'build.lock'),
    log: join(dir, 'build.log'),
  };
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function markerValid(p) {
  const m = readJson(p.marker);
  return (
    m !== undefined &&
    m.version === MEDIASOUP_VERSION &&
    JSON.stringify(m.fixes) === JSON.stringify(FIXES.map((f) => f.id)) &&
    isExecutable(p.workerBin)
  );
}

/**
 * Where the worker build stands, without doing anything: `ready` (with the worker and module
 * paths), `building` (pid, steps done of total), `failed` (log path, error) or `missing`.
 */
export function mediasoupWorkerStatus(root) {
  const p = mediasoupPaths(root);
  if (markerValid(p))
    return { state: 'ready', version: MEDIASOUP_VERSION, workerBin: p.workerBin, module: p.module };
  const s = readJson(p.status);
  if (s?.state === 'building' && pidAlive(s.pid)) return s;
  if (s?.state === 'failed') return s;
  return { state: 'missing' };
}

function has(command) {
  if (command.startsWith('/')) return isExecutable(command);
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Installs make/g++/python3 when missing (root only). Returns an error message or undefined. */
function ensureBuildTools(log) {
  const missing = Object.entries(BUILD_PACKAGES)
    .filter(([, cmds]) => !cmds.every(has))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return undefined;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0)
    return `the mediasoup worker needs ${missing.join(', ')}. Install them first:\n\n  sudo sh -c '${command}'\n`;
  log(`installing system packages for the mediasoup worker: ${missing.join(', ')}`);
  execFileSync('sh', ['-c', command], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return undefined;
}

/** `npm ci --ignore-scripts` of the pin into .mediasoup/ unless the same lockfile is installed. */
function installPin(p, log) {
  const lock = readFileSync(join(p.pin, 'package-lock.json'), 'utf8');
  const installedLock = join(p.dir, 'node_modules', '.package-lock.json');
  const installed = readJson(join(p.module, 'package.json'));
  let same = false;
  try {
    same = readFileSync(join(p.dir, 'package-lock.json'), 'utf8') === lock;
  } catch {
    // not installed yet
  }
  if (same && existsSync(installedLock) && installed?.version === MEDIASOUP_VERSION) return;
  log(
    `installing mediasoup ${MEDIASOUP_VERSION} sources into .mediasoup/ (npm ci --ignore-scripts)`,
  );
  for (const f of ['package.json', 'package-lock.json', '.npmrc'])
    copyFileSync(join(p.pin, f), join(p.dir, f));
  execFileSync('npm', ['ci', '--ignore-scripts', '--no-fund', '--no-audit', '--loglevel=error'], {
    cwd: p.dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // New sources: the linked copy and any objects built from the old ones are stale.
  rmSync(p.workerSrc, { recursive: true, force: true });
}

/** Links (or copies) the worker sources into .mediasoup/worker/ and applies {@link FIXES}. */
function prepareSources(p) {
  if (!existsSync(join(p.workerSrc, 'Makefile'))) {
    rmSync(p.workerSrc, { recursive: true, force: true });
    // Hard links: 190 MB of dependency sources cost no space or time; a patched file is
    // rewritten below as a new inode, so the npm-installed original stays intact.
    const linked = spawnSync('cp', ['-al', join(p.module, 'worker'), p.workerSrc]);
    if (linked.status !== 0) {
      rmSync(p.workerSrc, { recursive: true, force: true });
      execFileSync('cp', ['-r', join(p.module, 'worker'), p.workerSrc]);
    }
  }
  for (const fix of FIXES) {
    const file = join(p.workerSrc, fix.file);
    const text = readFileSync(file, 'utf8');
    if (text.includes(fix.from)) {
      const tmp = `${file}.concord-tmp`;
      writeFileSync(tmp, text.split(fix.from).join(fix.to));
      renameSync(tmp, file); // a new inode: never writes through the hard link
    } else if (!text.includes(fix.to)) {
      throw new Error(`fix ${fix.id}: neither the original nor the fixed text is in ${file}`);
    }
  }
}

const fmtMin = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 90 ? `${s} s` : `${Math.round(s / 60)} min`;
};

/** Runs make with progress; resolves with the exit code. */
function runMake(p, say, writeStatus, inPlace) {
  return new Promise((resolve) => {
    const cores = availableParallelism();
    const logStream = createWriteStream(p.log);
    const started = Date.now();
    logStream.write(`# make -C ${p.workerSrc} PYTHON=${PYTHON} CORES=${cores}\n`);
    const env = { ...process.env, PYTHON };
    // With MEDIASOUP_WORKER_BIN set, the worker Makefile's default target builds nothing.
    delete env.MEDIASOUP_WORKER_BIN;
    // Its own process group, so an interrupted build stops every compiler it started (and
    // resumes from the objects already built next time).
    const child = spawn('make', ['-C', p.workerSrc, `PYTHON=${PYTHON}`, `CORES=${cores}`], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const stop = (signal) => {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      rmSync(p.lock, { force: true });
      rmSync(p.status, { force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let done = 0;
    let weight = 0;
    let pending = '';
    const onData = (chunk) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const t = ((Date.now() - started) / 1000).toFixed(1);
      for (const line of lines) {
        logStream.write(`[${t.padStart(6)} s] ${line}\n`);
        const m = STEP_LINE.exec(line);
        if (m) {
          done++;
          weight += stepWeight(m[1], line);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let lastSaid = Number.NEGATIVE_INFINITY;
    const report = () => {
      const now = Date.now();
      writeStatus({ done, total: BUILD_STEPS });
      // On a terminal the line updates in place every 2 s; as log lines, every 15 s.
      if (!inPlace && now - lastSaid < 15_000) return;
      lastSaid = now;
      const elapsed = now - started;
      const frac = Math.min(1, weight / TOTAL_WEIGHT);
      // Until a few percent is done the rate says little: quote the usual range instead.
      const eta =
        frac > 0.03 ? `~${fmtMin((elapsed / frac) * (1 - frac))} left` : 'estimating time left';
      say(
        `building mediasoup worker (first time only, 3–10 min on 2 cores): ` +
          `${Math.min(done, BUILD_STEPS)}/${BUILD_STEPS} steps, ${eta}`,
      );
    };
    report();
    const timer = setInterval(report, 2_000);
    child.on('close', (code) => {
      clearInterval(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (pending) logStream.write(`${pending}\n`);
      logStream.end(`# exit ${code}, ${((Date.now() - started) / 1000).toFixed(1)} s\n`, () =>
        resolve({ code: code ?? 1, seconds: (Date.now() - started) / 1000, steps: done }),
      );
    });
  });
}

function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Makes sure the mediasoup worker is built (see the file comment). Resolves with
 * {@link mediasoupWorkerStatus}'s `ready` result, or `{ state: 'failed', log, error }` (also
 * printed, with the log's tail). Waits for a build another process is running instead of
 * starting a second one. `log` prints a line; progress goes to stdout (in place on a TTY).
 */
export async function ensureMediasoup(
  root,
  { log = (line) => console.log(line), inPlace = Boolean(process.stdout.isTTY) } = {},
) {
  const p = mediasoupPaths(root);
  if (markerValid(p)) return mediasoupWorkerStatus(root);
  mkdirSync(p.dir, { recursive: true });

  // One build at a time (npm start's background build and npm test may overlap).
  let lockFd;
  for (let waited = false; ;) {
    try {
      lockFd = openSync(p.lock, 'wx');
      writeSync(lockFd, String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(p.lock, 'utf8'));
      if (!pidAlive(pid)) {
        unlinkSync(p.lock); // stale: its builder died
        continue;
      }
      if (!waited) log(`another process (pid ${pid}) is building the mediasoup worker: waiting`);
      waited = true;
      await new Promise((r) => setTimeout(r, 2_000));
      if (markerValid(p)) return mediasoupWorkerStatus(root);
    }
  }
  const startedAt = Date.now();
  const writeStatus = (s) =>
    writeFileSync(p.status, JSON.stringify({ pid: process.pid, startedAt, ...s }));
  const fail = (error) => {
    const status = { state: 'failed', log: p.log, error };
    writeFileSync(p.status, JSON.stringify(status));
    console.error(`\nmediasoup worker build failed: ${error}\nfull log: ${p.log}\n`);
    const t = tail(p.log, 25);
    if (t) console.error(`last lines of the log:\n${t}\n`);
    return status;
  };
  try {
    if (markerValid(p)) return mediasoupWorkerStatus(root);
    const toolError = ensureBuildTools(log);
    if (toolError) return fail(toolError);
    writeStatus({ state: 'building', done: 0, total: BUILD_STEPS });
    try {
      installPin(p, log);
      prepareSources(p);
    } catch (e) {
      writeFileSync(p.log, String(e?.stack ?? e));
      return fail(`preparing the sources: ${e?.message ?? e}`);
    }
    const say = (line) => (inPlace ? process.stdout.write(`\r\x1b[K${line}`) : log(line));
    const result = await runMake(p, say, (s) => writeStatus({ state: 'building', ...s }), inPlace);
    if (inPlace) process.stdout.write('\n');
    if (result.code !== 0 || !isExecutable(p.workerBin))
      return fail(`make exited with ${result.code}`);
    const marker = {
      version: MEDIASOUP_VERSION,
      fixes: FIXES.map((f) => f.id),
      workerBin: 'worker/out/Release/mediasoup-worker',
      module: 'node_modules/mediasoup',
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round(result.seconds),
      steps: result.steps,
    };
    writeFileSync(p.marker, `${JSON.stringify(marker, null, 2)}\n`);
    rmSync(p.status, { force: true });
    log(`mediasoup worker built in ${fmtMin(result.seconds * 1000)}: ${p.workerBin}`);
    return mediasoupWorkerStatus(root);
  } finally {
    closeSync(lockFd);
    rmSync(p.lock, { force: true });
  }
}

/**
 * Starts {@link ensureMediasoup} in a child process and returns at once (`npm start`: the
 * gateway and the page start meanwhile; the gateway sees the worker appear through
 * .mediasoup/worker.json — `mediasoupWorkerStatus` — and can start its SFU then). Progress
 * lines are prefixed "[mediasoup]" so they stand out among the gateway's logs. Returns the
 * child, or undefined when the worker is ready already.
 */
export function startMediasoupBuild(root) {
  if (markerValid(mediasoupPaths(root))) return undefined;
  return spawn(process.execPath, [fileURLToPath(import.meta.url), '--lines', '--prefix'], {
    cwd: root,
    stdio: 'inherit',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const prefix = process.argv.includes('--prefix') ? '[mediasoup] ' : '';
  const status = await ensureMediasoup(root, {
    log: (line) => console.log(`${prefix}${line}`),
    inPlace: Boolean(process.stdout.isTTY) && !process.argv.includes('--lines'),
  });
  if (prefix && status.state === 'ready') console.log(`${prefix}worker ready: ${status.workerBin}`);
  process.exit(status.state === 'ready' ? 0 : 1);
}
