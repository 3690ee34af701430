import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findManagedDir, loadMediasoup, mediasoupWorkerStatus } from './mediasoupLoader.js';
import { SfuError } from './SfuError.js';

let root: string;

/** A stand-in mediasoup package exporting `version` and `createWorker`. */
function fakePackage(dir: string, version: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'mediasoup', version, main: 'index.js' }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `exports.version = ${JSON.stringify(version)};\n` +
      'exports.workerBinAtLoad = process.env.MEDIASOUP_WORKER_BIN;\n' +
      'exports.createWorker = async () => { throw new Error("fake"); };\n',
  );
}

/** A managed install under `root/.mediasoup` as scripts/ensure-mediasoup.mjs leaves it. */
function fakeManaged(): string {
  const dir = join(root, '.mediasoup');
  fakePackage(join(dir, 'node_modules', 'mediasoup'), '3.8.4');
  const bin = join(dir, 'worker', 'out', 'Release', 'mediasoup-worker');
  mkdirSync(join(bin, '..'), { recursive: true });
  writeFileSync(bin, '#!/bin/sh\n');
  chmodSync(bin, 0o755);
  writeFileSync(
    join(dir, 'worker.json'),
    JSON.stringify({
      version: '3.8.4',
      fixes: ['gyp-collections-abc', 'abseil-sigstksz'],
      workerBin: 'worker/out/Release/mediasoup-worker',
      module: 'node_modules/mediasoup',
    }),
  );
  return dir;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'concord-sfu-loader-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('mediasoupWorkerStatus', () => {
  it('is missing without a build, and building while a live process builds', () => {
    const dir = join(root, '.mediasoup');
    mkdirSync(dir);
    expect(mediasoupWorkerStatus({ searchFrom: [root], env: {} })).toEqual({
      state: 'missing',
      dir,
    });
    writeFileSync(
      join(dir, 'status.json'),
      JSON.stringify({ state: 'building', pid: process.pid, done: 412, total: 1034 }),
    );
    expect(mediasoupWorkerStatus({ searchFrom: [root], env: {} })).toEqual({
      state: 'building',
      pid: process.pid,
      done: 412,
      total: 1034,
      dir,
    });
  });

  it('treats the status of a builder that died as missing, and reports a failure with its log', () => {
    const dir = join(root, '.mediasoup');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'status.json'),
      JSON.stringify({ state: 'building', pid: 2 ** 22 + 7 }),
    );
    expect(mediasoupWorkerStatus({ managedDir: dir, env: {} }).state).toBe('missing');
    writeFileSync(
      join(dir, 'status.json'),
      JSON.stringify({ state: 'failed', log: '/x/build.log', error: 'make exited with 2' }),
    );
    expect(mediasoupWorkerStatus({ managedDir: dir, env: {} })).toEqual({
      state: 'failed',
      log: '/x/build.log',
      error: 'make exited with 2',
      dir,
    });
  });

  it('is ready once the marker names an executable worker', () => {
    const dir = fakeManaged();
    const s = mediasoupWorkerStatus({ searchFrom: [join(root, 'a', 'b')], env: {} });
    expect(s).toMatchObject({ state: 'ready', version: '3.8.4', dir });
    rmSync(join(dir, 'worker', 'out'), { recursive: true });
    expect(mediasoupWorkerStatus({ managedDir: dir, env: {} }).state).toBe('missing');
  });

  it('finds the repo root by scripts/ensure-mediasoup.mjs before the build made .mediasoup', () => {
    mkdirSync(join(root, 'scripts'));
    writeFileSync(join(root, 'scripts', 'ensure-mediasoup.mjs'), '');
    expect(findManagedDir({ searchFrom: [join(root, 'packages')], env: {} })).toBe(
      join(root, '.mediasoup'),
    );
    expect(findManagedDir({ env: { CONCORD_MEDIASOUP_DIR: '/opt/ms' } })).toBe('/opt/ms');
  });
});

describe('loadMediasoup', () => {
  it('loads the managed build and sets MEDIASOUP_WORKER_BIN before the module loads', () => {
    const dir = fakeManaged();
    const env: NodeJS.ProcessEnv = {};
    const saved = process.env.MEDIASOUP_WORKER_BIN;
    const loaded = loadMediasoup({ searchFrom: [root], env });
    expect(loaded.source).toBe('managed');
    expect(loaded.version).toBe('3.8.4');
    expect(loaded.workerBin).toBe(join(dir, 'worker', 'out', 'Release', 'mediasoup-worker'));
    expect(env.MEDIASOUP_WORKER_BIN).toBe(loaded.workerBin);
    expect(process.env.MEDIASOUP_WORKER_BIN).toBe(saved);
  });

  it('prefers an installed mediasoup, and an explicit module path over both', () => {
    fakeManaged();
    fakePackage(join(root, 'node_modules', 'mediasoup'), '3.19.2');
    const installed = loadMediasoup({ searchFrom: [root], env: {} });
    expect(installed).toMatchObject({ source: 'installed', version: '3.19.2' });
    const other = join(root, 'custom');
    fakePackage(other, '3.15.0');
    expect(
      loadMediasoup({ searchFrom: [root], env: { CONCORD_MEDIASOUP_MODULE: other } }),
    ).toMatchObject({ source: 'env', version: '3.15.0', modulePath: other });
  });

  it('fails with SfuError UNAVAILABLE saying what was tried', () => {
    mkdirSync(join(root, '.mediasoup'));
    const e = (() => {
      try {
        loadMediasoup({ searchFrom: [root], env: {} });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(SfuError);
    expect((e as SfuError).code).toBe('CONCORD_ERR_SFU_UNAVAILABLE');
    expect((e as SfuError).message).toMatch(/no installed `mediasoup`.*npm run mediasoup/);
    expect(() => loadMediasoup({ modulePath: join(root, 'nowhere'), env: {} })).toThrow(
      /cannot load/,
    );
  });
});
