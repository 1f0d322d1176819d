import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.onnx': 'application/octet-stream',
};

export function contentType(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Earshot</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{background:#eee;padding:.1em .3em}</style>
</head><body>
<h1>Earshot is running</h1>
<p>The web client is not built yet, so there is no page to show here. Build it from the repository root with</p>
<pre><code>npx vite build web</code></pre>
<p>(its output goes to <code>web/dist</code>, which this server serves at <code>/</code>; no restart needed).</p>
<p>The server itself works: WebSocket <code>/ws/stream</code>, <code>POST /v1/audio/transcriptions</code>,
<code>/health</code>, <code>/ready</code>, <code>/metrics</code>.</p>
</body></html>
`;

/**
 * Serves files under `root` for GET/HEAD. URL paths are decoded, normalized and must stay inside root (no `..`, no
 * NUL, no backslashes, no symlinks out); "/" and folders serve their index.html. Returns false when nothing matched
 * (the caller answers 404). Without a built client, "/" answers a page that says how to build it.
 */
export async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  root: string,
  headers: Record<string, string> = {},
): Promise<boolean> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return false;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return false;
  const rootResolved = path.resolve(root);
  const relative = path.posix.normalize(decoded).replace(/^\/+/, '');
  if (relative.split('/').includes('..')) return false;
  let file = path.resolve(rootResolved, relative);
  if (file !== rootResolved && !file.startsWith(rootResolved + path.sep)) return false;

  let stat = await fs.stat(file).catch(() => undefined);
  if (stat?.isDirectory()) {
    file = path.join(file, 'index.html');
    stat = await fs.stat(file).catch(() => undefined);
  }
  if (!stat?.isFile()) {
    if (relative === '' || relative === 'index.html') {
      send(req, res, 200, 'text/html; charset=utf-8', NOT_BUILT_PAGE, 'no-cache');
      return true;
    }
    return false;
  }
  // A symlink inside root must not lead outside it.
  const real = await fs.realpath(file).catch(() => undefined);
  const realRoot = await fs.realpath(rootResolved).catch(() => rootResolved);
  if (!real || (real !== realRoot && !real.startsWith(realRoot + path.sep))) return false;

  // Vite puts content-hashed files under assets/: they never change, everything else is revalidated.
  const cache = relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
  res.writeHead(200, {
    'Content-Type': contentType(file),
    'Content-Length': stat.size,
    'Cache-Control': cache,
    'Last-Modified': stat.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', resolve);
    stream.pipe(res);
  });
  return true;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string, cache: string): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': cache,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
