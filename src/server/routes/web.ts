/**
 * The web page at `/`: index.html and its bundle (web/ built into dist/web by `npm run build:web`, which
 * `npm install` runs). The page loads nothing from anywhere else, and its Content-Security-Policy says so.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { packageRoot } from '../../proto/schema.js';
import { HttpError } from '../errors.js';

/** Where `npm run build:web` puts the page. */
export function webRoot(): string {
  return join(packageRoot(), 'dist', 'web');
}

/** Scripts, styles, images and connections: this origin only (data: for the favicon and Chart.js's canvases). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const webRoutes: FastifyPluginAsync = async (app) => {
  const root = webRoot();
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async () => {
      throw new HttpError(503, `The web page is not built: run \`npm run build:web\` (expected ${join(root, 'index.html')})`);
    });
    return;
  }
  // Files are listed once at start (no wildcard route), so unknown paths still reach the 404 handler.
  await app.register(fastifyStatic, {
    root,
    prefix: '/web/',
    wildcard: false,
    index: false,
    setHeaders: (response) => {
      response.setHeader('x-content-type-options', 'nosniff');
    },
  });
  app.get('/', { schema: { hide: true } }, (_request, reply) =>
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('cache-control', 'no-cache').sendFile('index.html'),
  );
};
