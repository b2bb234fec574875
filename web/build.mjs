/**
 * Bundles the page into dist/web: app.js (TypeScript and Chart.js, by esbuild), app.css and index.html.
 * Run by `npm run build:web` (and so by `npm install` through prepare); tests call buildWeb().
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_OUT = join(here, '..', 'dist', 'web');

export async function buildWeb({ outdir = WEB_OUT, minify = true } = {}) {
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: { app: join(here, 'src', 'main.ts') },
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify,
    sourcemap: true,
    legalComments: 'linked',
    outdir,
    logLevel: 'warning',
  });
  await build({ entryPoints: { app: join(here, 'styles.css') }, bundle: true, minify, outdir, logLevel: 'warning' });
  await copyFile(join(here, 'index.html'), join(outdir, 'index.html'));
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildWeb();
  console.log(`web page built in ${out}`);
}
