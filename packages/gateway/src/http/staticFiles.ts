import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import serveStatic from 'serve-static';
import type { StaticMount } from '../config.js';

/**
 * Headers that make a page cross-origin isolated, so `SharedArrayBuffer` (audio ring buffers)
 * is available: COOP same-origin, COEP require-corp, and CORP on every subresource.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Headers on every static response: isolation, no MIME sniffing. */
const STATIC_HEADERS: Readonly<Record<string, string>> = {
  ...ISOLATION_HEADERS,
  'X-Content-Type-Options': 'nosniff',
};

type Handler = ReturnType<typeof serveStatic>;

/** What {@link StaticFiles.serve} did with a request. */
export type StaticResult = 'served' | 'not-found';

/**
 * Serves the configured directories under their URL prefixes through `serve-static` (which
 * streams with `send`: range requests, ETags, streams closed when a download is aborted,
 * errors answered instead of thrown, paths that cannot leave the mount), adding the isolation
 * headers and `nosniff`. Dotfiles are not served. Main thread.
 */
export class StaticFiles {
  private readonly mounts: ReadonlyArray<{ prefix: string; handler: Handler }>;

  constructor(mounts: readonly StaticMount[]) {
    this.mounts = mounts.map((m) => ({
      prefix: m.prefix,
      handler: serveStatic(resolve(m.dir), {
        dotfiles: 'ignore',
        index: ['index.html'],
        redirect: true,
        fallthrough: true,
        cacheControl: false,
        setHeaders: (res: ServerResponse) => {
          for (const [k, v] of Object.entries(STATIC_HEADERS)) res.setHeader(k, v);
          res.setHeader('Cache-Control', 'no-cache');
        },
      }),
    }));
  }

  /**
   * Serves `req` from the first mount whose prefix matches and holds the file. Resolves
   * `'not-found'` when none does (the caller answers 404). Errors (a file that cannot be read)
   * are answered with their HTTP status here, never thrown.
   */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<StaticResult> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return 'not-found';
    const originalUrl = req.url ?? '/';
    const pathname = originalUrl.split('?')[0] ?? '/';
    for (const mount of this.mounts) {
      if (!pathname.startsWith(mount.prefix)) continue;
      // serve-static resolves req.url against its root: strip the prefix (keep a leading /).
      req.url = `/${originalUrl.slice(mount.prefix.length)}`;
      const outcome = await new Promise<'next' | 'done' | Error>((settle) => {
        const finished = (): void => done('done');
        const done = (result: 'next' | 'done' | Error): void => {
          res.off('finish', finished);
          res.off('close', finished);
          settle(result);
        };
        res.once('finish', finished);
        res.once('close', finished);
        mount.handler(req as never, res as never, (err?: unknown) =>
          done(err instanceof Error ? err : 'next'),
        );
      });
      req.url = originalUrl;
      if (outcome === 'done') return 'served';
      if (outcome instanceof Error) {
        const status = (outcome as Error & { status?: number }).status ?? 500;
        if (!res.headersSent) {
          res.writeHead(status >= 400 && status < 600 ? status : 500, {
            'Content-Type': 'text/plain',
            ...STATIC_HEADERS,
          });
        }
        res.end(status === 404 ? 'not found' : 'cannot read this file');
        return 'served';
      }
    }
    return 'not-found';
  }
}
