// Builds every top-level AssemblyScript entry in assembly/ (assembly/<kernel>.ts) into
// build/<kernel>.wasm with SIMD on. Shared AssemblyScript helpers live in assembly/lib/ and are
// not entries. The .wasm files are build output and never committed.
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'build'), { recursive: true });

const only = process.argv.slice(2);
const entries = readdirSync(join(root, 'assembly'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .filter((name) => only.length === 0 || only.includes(name));

for (const name of entries) {
  const { error, stderr } = await asc.main(
    [
      join(root, 'assembly', `${name}.ts`),
      '--outFile',
      join(root, 'build', `${name}.wasm`),
      '--textFile',
      join(root, 'build', `${name}.wat`),
      '--optimizeLevel',
      '3',
      '--shrinkLevel',
      '0',
      '--runtime',
      'stub',
      '--enable',
      'simd',
      '--noAssert',
      '--uncheckedBehavior',
      'always',
    ],
    { stdout: process.stdout, stderr: process.stderr, baseDir: root },
  );
  if (error) {
    console.error(stderr.toString());
    console.error(`wasm-dsp: ${name} failed: ${error.message}`);
    process.exit(1);
  }
  console.log(`wasm-dsp: built build/${name}.wasm`);
}
