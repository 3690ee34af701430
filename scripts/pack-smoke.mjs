// Packed-tarball smoke test (`npm run test:pack`, run by CI): what a user gets from `npm install`.
//   1. `npm pack` of every workspace package; each tarball's file list must hold its README,
//      LICENSE, every `exports` target (with `types` listed first), every bin (with a shebang),
//      and no build leftovers (.tsbuildinfo, tests).
//   2. A blank project in a temporary folder installs the tarballs (the workspace packages come
//      only from them; their own dependencies, `ws`, `@types/node` and `playwright-core` from the
//      npm registry, from npm's cache when it has them).
//   3. `tsc --noEmit` of scripts/pack-smoke/types.ts there, with moduleResolution NodeNext and
//      Bundler: every public entry, @concord/sdk/browser included, has type declarations.
//   4. scripts/pack-smoke/smoke.mjs there: the installed bins, the gateway with a secret, the
//      SDK in Node joining a room with a minted token, and Debian Chromium loading a page from
//      the gateway's --static that imports @concord/sdk/browser and joins the same room.
// Needs `npm run build` first. Options: --keep (leave the temporary folder), --no-browser.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'scripts', 'pack-smoke');
const keep = process.argv.includes('--keep');
const noBrowser = process.argv.includes('--no-browser');
const started = performance.now();
const seconds = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

class SmokeFailure extends Error {}
function fail(message) {
  throw new SmokeFailure(message);
}

function step(name, fn) {
  const t0 = performance.now();
  const result = fn();
  console.log(`pack-smoke: ok  ${name} (${seconds(t0)})`);
  return result;
}

const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
/** Folder of each workspace package, by package name. */
const folders = new Map(
  workspaces.map((ws) => [
    JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8')).name,
    ws,
  ]),
);
for (const ws of workspaces)
  if (!existsSync(join(root, ws, 'dist', 'index.js'))) {
    console.error(`pack-smoke: ${ws}/dist is missing: run \`npm run build\` first`);
    process.exit(1);
  }

const tmp = mkdtempSync(join(tmpdir(), 'concord-pack-'));
const tarballs = join(tmp, 'tarballs');
const app = join(tmp, 'app');
mkdirSync(tarballs);
mkdirSync(app);

try {
  // 1. Pack, and check what each tarball holds.
  const packed = step('npm pack of every workspace package', () =>
    JSON.parse(
      execFileSync(
        'npm',
        ['pack', '--workspaces', '--json', '--pack-destination', tarballs, '--silent'],
        { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    ),
  );
  step('tarball contents (README, LICENSE, exports with types first, bins)', () => {
    const problems = [];
    for (const p of packed) {
      const files = new Set(p.files.map((f) => f.path));
      const folder = join(root, folders.get(p.name));
      const pkg = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
      const has = (target) => {
        const path = target.replace(/^\.\//, '');
        if (!path.includes('*')) return files.has(path);
        const [head, tail] = path.split('*');
        return [...files].some((f) => f.startsWith(head) && f.endsWith(tail));
      };
      for (const required of ['package.json', 'README.md', 'LICENSE'])
        if (!files.has(required)) problems.push(`${p.name}: ${required} is not in the tarball`);
      for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
        const targets = typeof target === 'string' ? { default: target } : target;
        const conditions = Object.keys(targets);
        if (conditions.includes('types') && conditions[0] !== 'types')
          problems.push(`${p.name} exports["${subpath}"]: "types" must come first`);
        if (typeof target !== 'string' && !conditions.includes('types'))
          problems.push(`${p.name} exports["${subpath}"]: no "types"`);
        for (const file of Object.values(targets))
          if (!has(file))
            problems.push(`${p.name} exports["${subpath}"]: ${file} is not in the tarball`);
      }
      for (const [name, file] of Object.entries(pkg.bin ?? {})) {
        const path = file.replace(/^\.\//, '');
        if (!files.has(path)) problems.push(`${p.name} bin ${name}: ${path} is not in the tarball`);
        else if (!readFileSync(join(folder, path), 'utf8').startsWith('#!/usr/bin/env node'))
          problems.push(`${p.name} bin ${name}: ${path} has no "#!/usr/bin/env node" line`);
      }
      for (const f of files)
        if (/\.tsbuildinfo$|\.test\.|\.wat$/.test(f)) problems.push(`${p.name}: ships ${f}`);
    }
    if (problems.length > 0) fail(`tarball contents:\n  ${problems.join('\n  ')}`);
  });

  // 2. A blank project installs the tarballs.
  const version = (name) =>
    JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'concord-pack-smoke', private: true, type: 'module' }, null, 2),
  );
  step('npm install of the tarballs into a blank project', () => {
    const r = spawnSync(
      'npm',
      [
        'install',
        '--no-fund',
        '--no-audit',
        '--prefer-offline',
        '--loglevel=error',
        ...packed.map((p) => join(tarballs, p.filename)),
        `ws@^${version('ws')}`,
        `@types/node@^${version('@types/node')}`,
        `playwright-core@${version('playwright-core')}`,
        // The QA kit's fixtures entry (@concord/testing/playwright) needs its peer.
        `@playwright/test@${version('@playwright/test')}`,
      ],
      { cwd: app, stdio: 'inherit' },
    );
    if (r.status !== 0) fail('npm install of the tarballs failed (see above)');
    for (const p of packed)
      if (existsSync(join(app, 'node_modules', ...p.name.split('/'), 'node_modules', '@concord')))
        fail(`${p.name} got its own nested copy of a @concord package: versions do not match`);
  });

  // 3. Types of every public entry.
  cpSync(join(fixtures, 'types.ts'), join(app, 'types.ts'));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const [module, moduleResolution] of [
    ['NodeNext', 'NodeNext'],
    ['ESNext', 'Bundler'],
  ])
    step(`types of every entry (tsc, moduleResolution ${moduleResolution})`, () => {
      const r = spawnSync(
        process.execPath,
        [
          tsc,
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          '--target',
          'ES2022',
          '--lib',
          'ES2022,DOM',
          '--types',
          'node',
          '--module',
          module,
          '--moduleResolution',
          moduleResolution,
          'types.ts',
        ],
        { cwd: app, encoding: 'utf8' },
      );
      if (r.status !== 0)
        fail(`tsc (${moduleResolution}) in the blank project:\n${r.stdout}${r.stderr}`);
    });

  // 4. Node and Chromium against the installed packages.
  cpSync(join(fixtures, 'smoke.mjs'), join(app, 'smoke.mjs'));
  cpSync(join(fixtures, 'page'), join(app, 'page'), { recursive: true });
  step(`installed bins, gateway and SDK in Node${noBrowser ? '' : ' and Chromium'}`, () => {
    const r = spawnSync(process.execPath, ['smoke.mjs', ...(noBrowser ? ['--no-browser'] : [])], {
      cwd: app,
      stdio: 'inherit',
      timeout: 120_000,
    });
    if (r.status !== 0) fail(`smoke.mjs in the blank project (exit ${r.status ?? r.signal})`);
  });
  console.log(`pack-smoke: all checks passed in ${seconds(started)}`);
} catch (err) {
  console.error(`pack-smoke: FAILED: ${err instanceof SmokeFailure ? err.message : err?.stack}`);
  process.exitCode = 1;
} finally {
  if (keep) console.log(`pack-smoke: left ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
