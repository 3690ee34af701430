#!/usr/bin/env node
// Launcher of the `concord-load` CLI. It is committed (never built) so that npm links the bin
// at `npm ci` time, before `npm run build` has written dist/load/cli.js; it loads the built
// CLI, or says how to build it.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/load/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error(
    'concord-load: the CLI is not built yet (dist/load/cli.js is missing). In the Concord ' +
      'repository, run `npm run build` first.',
  );
  process.exit(1);
}
await import(cli.href);
