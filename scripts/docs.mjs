// `npm run docs`: builds the documentation site into dist/docs/ (served at /docs by
// `npm start`): the guides in docs/guides/, ARCHITECTURE.md, and the TypeDoc API reference of
// the public entries of @concord/sdk, protocol, testing and gateway (typedoc.json). Offline.
// TypeDoc reads each package's sources and the declarations of the packages it imports, so the
// TypeScript projects are built first (`tsc -b`, incremental: quick when up to date). The site
// is written to a temporary folder and swapped in, so a server reading dist/docs/ never sees a
// half-written site.
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'docs');
const next = join(root, 'dist', 'docs.next');
const started = performance.now();
const bin = (pkg, path) => join(root, 'node_modules', pkg, path);

execFileSync(process.execPath, [bin('typescript', 'bin/tsc'), '-b'], {
  cwd: root,
  stdio: 'inherit',
});
rmSync(next, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [bin('typedoc', 'bin/typedoc'), '--out', next, '--logLevel', 'Warn'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (!existsSync(join(next, 'index.html'))) {
  console.error('docs: TypeDoc wrote no index.html');
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
renameSync(next, out);
console.log(
  `docs: built dist/docs/ in ${((performance.now() - started) / 1000).toFixed(1)} s ` +
    '(open dist/docs/index.html, or `npm start` and http://127.0.0.1:8080/docs/)',
);
