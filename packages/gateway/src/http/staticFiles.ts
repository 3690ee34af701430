import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { StaticMount } from '../config.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.wav': 'audio/wav',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Headers that make a page cross-origin isolated, so `SharedArrayBuffer` (audio ring buffers)
 * is available: COOP same-origin, COEP require-corp, and CORP on every subresource.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Serves a file from the first mount whose prefix matches, with isolation headers. Returns
 * false when no mount matches or the file does not exist. Paths cannot escape a mount.
 */
export async function serveStatic(
  mounts: readonly StaticMount[],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  for (const mount of mounts) {
    if (!pathname.startsWith(mount.prefix)) continue;
    const root = resolve(mount.dir);
    let file = resolve(join(root, normalize(pathname.slice(mount.prefix.length))));
    if (file !== root && !file.startsWith(root + sep)) return false;
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      res.writeHead(200, {
        ...ISOLATION_HEADERS,
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': info.size,
        'Cache-Control': 'no-cache',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
      return true;
    } catch {
      continue;
    }
  }
  return false;
}
