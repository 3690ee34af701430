// Finds and loads mediasoup at run time: it is not a dependency of the gateway (see
// scripts/ensure-mediasoup.mjs for why). Three sources, tried in this order:
//   'env'       CONCORD_MEDIASOUP_MODULE (or the `modulePath` option): a mediasoup package folder;
//   'installed' a `mediasoup` the user installed normally (current releases ship a prebuilt
//               worker), resolved from the search folders;
//   'managed'   the project-managed build: .mediasoup/ at the repo root, written by
//               scripts/ensure-mediasoup.mjs (mediasoup 3.8.4 and its worker built offline).
// For 'managed', MEDIASOUP_WORKER_BIN is set before mediasoup's module loads (3.8.4 reads it
// once, at load) unless the user set it.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MediasoupApi } from './mediasoupTypes.js';
import { SfuError } from './SfuError.js';

/** Where a loaded mediasoup came from (see the file comment). */
export type MediasoupSource = 'env' | 'installed' | 'managed';

/** A loaded mediasoup module and where it came from. */
export interface LoadedMediasoup {
  api: MediasoupApi;
  source: MediasoupSource;
  version: string;
  /** The package folder it was loaded from. */
  modulePath: string;
  /** The worker binary it will spawn when set explicitly (managed install, or the user's env). */
  workerBin: string | undefined;
}

/** Options of {@link loadMediasoup} and {@link mediasoupWorkerStatus}. */
export interface MediasoupLocateOptions {
  /** A mediasoup package folder to load (default: env CONCORD_MEDIASOUP_MODULE). */
  modulePath?: string;
  /** The folder holding the managed install (default: env CONCORD_MEDIASOUP_DIR, else
   * `.mediasoup` in the first folder up from `searchFrom` that has one or has
   * scripts/ensure-mediasoup.mjs). */
  managedDir?: string;
  /** Folders to search from (default: the working directory and this module's folder). */
  searchFrom?: string[];
  /** Environment to read (default `process.env`); MEDIASOUP_WORKER_BIN is set on it. */
  env?: NodeJS.ProcessEnv;
}

/** State of the project-managed worker build (the files scripts/ensure-mediasoup.mjs writes). */
export type MediasoupWorkerStatus =
  | { state: 'ready'; version: string; workerBin: string; modulePath: string; dir: string }
  | { state: 'building'; pid: number; done: number; total: number; dir: string }
  | { state: 'failed'; log: string; error: string; dir: string }
  | { state: 'missing'; dir: string | undefined };

const MANAGED_VERSION = '3.8.4';

function searchDirs(options: MediasoupLocateOptions): string[] {
  return options.searchFrom ?? [process.cwd(), dirname(fileURLToPath(import.meta.url))];
}

/** The managed install's folder, if one can be placed (it may not exist yet). */
export function findManagedDir(options: MediasoupLocateOptions = {}): string | undefined {
  const env = options.env ?? process.env;
  const explicit = options.managedDir ?? env.CONCORD_MEDIASOUP_DIR;
  if (explicit) return resolve(explicit);
  for (const start of searchDirs(options)) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      if (
        existsSync(join(dir, '.mediasoup')) ||
        existsSync(join(dir, 'scripts', 'ensure-mediasoup.mjs'))
      )
        return join(dir, '.mediasoup');
      if (dirname(dir) === dir) break;
    }
  }
  return undefined;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Where the project-managed worker build stands: `ready` once .mediasoup/worker.json names a
 * worker that exists, `building` while scripts/ensure-mediasoup.mjs runs (steps done of total),
 * `failed` (with the build log's path), or `missing`. Cheap (two small file reads): the gateway
 * may poll it every few seconds after `npm start` began the build in the background. Main thread.
 */
export function mediasoupWorkerStatus(options: MediasoupLocateOptions = {}): MediasoupWorkerStatus {
  const dir = findManagedDir(options);
  if (!dir) return { state: 'missing', dir: undefined };
  const marker = readJson(join(dir, 'worker.json'));
  if (
    marker?.version === MANAGED_VERSION &&
    typeof marker.workerBin === 'string' &&
    typeof marker.module === 'string'
  ) {
    const workerBin = join(dir, marker.workerBin);
    const modulePath = join(dir, marker.module);
    if (executable(workerBin) && existsSync(join(modulePath, 'package.json')))
      return { state: 'ready', version: MANAGED_VERSION, workerBin, modulePath, dir };
  }
  const status = readJson(join(dir, 'status.json'));
  if (status?.state === 'building' && typeof status.pid === 'number' && alive(status.pid))
    return {
      state: 'building',
      pid: status.pid,
      done: Number(status.done) || 0,
      total: Number(status.total) || 0,
      dir,
    };
  if (status?.state === 'failed')
    return { state: 'failed', log: String(status.log), error: String(status.error), dir };
  return { state: 'missing', dir };
}

function isMediasoupApi(v: unknown): v is MediasoupApi {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { createWorker?: unknown }).createWorker === 'function' &&
    typeof (v as { version?: unknown }).version === 'string'
  );
}

function requireFrom(modulePath: string): MediasoupApi {
  const req = createRequire(join(modulePath, 'package.json'));
  const api: unknown = req(modulePath);
  if (!isMediasoupApi(api)) throw new Error(`${modulePath} does not export createWorker/version`);
  return api;
}

/**
 * Loads mediasoup from the first source that has it (see the file comment) and says which.
 * Safe to call again after a failure (e.g. once a background build finished); mediasoup's
 * module itself is cached by Node after the first success. Main thread.
 * @throws {SfuError} `CONCORD_ERR_SFU_UNAVAILABLE` listing what was tried (and the managed
 * build's state: building, failed with its log, or missing — run `npm run mediasoup`).
 */
export function loadMediasoup(options: MediasoupLocateOptions = {}): LoadedMediasoup {
  const env = options.env ?? process.env;
  const tried: string[] = [];
  const explicit = options.modulePath ?? env.CONCORD_MEDIASOUP_MODULE;
  if (explicit) {
    const modulePath = resolve(explicit);
    try {
      const api = requireFrom(modulePath);
      return {
        api,
        source: 'env',
        version: api.version,
        modulePath,
        workerBin: env.MEDIASOUP_WORKER_BIN,
      };
    } catch (e) {
      throw SfuError.unavailable(`cannot load mediasoup from ${modulePath}`, e);
    }
  }
  for (const from of searchDirs(options)) {
    let modulePath: string;
    try {
      modulePath = dirname(
        createRequire(join(resolve(from), 'noop.js')).resolve('mediasoup/package.json'),
      );
    } catch {
      continue;
    }
    try {
      const api = requireFrom(modulePath);
      return {
        api,
        source: 'installed',
        version: api.version,
        modulePath,
        workerBin: env.MEDIASOUP_WORKER_BIN,
      };
    } catch (e) {
      tried.push(`installed mediasoup at ${modulePath}: ${(e as Error).message}`);
    }
  }
  if (tried.length === 0) tried.push('no installed `mediasoup` package');
  const status = mediasoupWorkerStatus(options);
  if (status.state === 'ready') {
    if (!env.MEDIASOUP_WORKER_BIN) env.MEDIASOUP_WORKER_BIN = status.workerBin;
    try {
      const api = requireFrom(status.modulePath);
      return {
        api,
        source: 'managed',
        version: api.version,
        modulePath: status.modulePath,
        workerBin: env.MEDIASOUP_WORKER_BIN,
      };
    } catch (e) {
      throw SfuError.unavailable(`cannot load the managed mediasoup at ${status.modulePath}`, e);
    }
  }
  if (status.state === 'building')
    tried.push(
      `the managed worker is being built (pid ${status.pid}, ${status.done}/${status.total} steps)`,
    );
  else if (status.state === 'failed')
    tried.push(`the managed worker build failed: ${status.error} (log: ${status.log})`);
  else tried.push('no managed build: run `npm run mediasoup` (scripts/ensure-mediasoup.mjs)');
  throw SfuError.unavailable(tried.join('; '));
}
