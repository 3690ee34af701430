// scripts/check-sizes.mjs (the size budgets CI checks for the browser bundle, the worklet
// bundle and the WASM assets), run as CI runs it, on files made here: over a budget it must
// fail naming the file, its size, the budget and the budget file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../../scripts/check-sizes.mjs', import.meta.url));

function check(budgets: unknown[], files: Record<string, number>) {
  const root = mkdtempSync(join(tmpdir(), 'concord-sizes-'));
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), Buffer.alloc(bytes, 7));
  }
  const budgetFile = join(root, 'budgets.json');
  writeFileSync(budgetFile, JSON.stringify({ budgets }));
  const r = spawnSync(process.execPath, [SCRIPT, '--root', root, '--budgets', budgetFile], {
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('size budgets script', () => {
  it('passes when every file is within its budget', () => {
    const { code, out } = check(
      [{ name: 'bundle', files: ['dist/a.js'], maxBytes: 1000, maxGzipBytes: 1000 }],
      { 'dist/a.js': 1000 },
    );
    expect(code).toBe(0);
    expect(out).toContain('size budgets: all 2 within budget');
  });

  it('fails naming the file, its size, its budget and the budget file', () => {
    const { code, err } = check([{ name: 'bundle', files: ['dist/a.js'], maxBytes: 1000 }], {
      'dist/a.js': 1234,
    });
    expect(code).toBe(1);
    expect(err).toContain('dist/a.js is 1,234 B, over its budget of 1,000 B by 234 B');
    // The budget file, named relative to the root it checks.
    expect(err).toContain('(maxBytes of "bundle" in budgets.json)');
  });

  it('sums a glob of files and lists each one when the total is over', () => {
    const { code, err } = check([{ name: 'kernels', files: ['build/*.wasm'], maxBytes: 250 }], {
      'build/a.wasm': 100,
      'build/b.wasm': 200,
      'build/c.txt': 5000,
    });
    expect(code).toBe(1);
    expect(err).toContain('"kernels" (build/a.wasm 100 B, build/b.wasm 200 B) is 300 B');
  });

  it('checks the gzip size separately', () => {
    // 5,000 identical bytes compress to a few dozen: within 100 B gzipped, over 4,000 B raw.
    const ok = check([{ name: 'g', files: ['a.bin'], maxGzipBytes: 100 }], { 'a.bin': 5000 });
    expect(ok.code).toBe(0);
    const over = check([{ name: 'g', files: ['a.bin'], maxGzipBytes: 10 }], { 'a.bin': 5000 });
    expect(over.code).toBe(1);
    expect(over.err).toMatch(/a\.bin is \d+ B gzipped, over its budget of 10 B/);
  });

  it('says a missing file must be built', () => {
    const { code, err } = check([{ name: 'bundle', files: ['dist/none.js'], maxBytes: 1 }], {});
    expect(code).toBe(1);
    expect(err).toContain('dist/none.js is missing (budget "bundle"');
    expect(err).toContain('npm run build');
  });
});
