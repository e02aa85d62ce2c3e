// Builds the `postroom` command into dist/ (run by `npm ci` / `npm install` through
// the `prepare` script): our TypeScript bundled into one ES module, the
// dependencies left in node_modules. The command then starts without a
// TypeScript loader: it starts faster and holds less memory. bin/postroom.js
// falls back to running the sources (tsx) when dist/ is missing or older
// than any of them, so an edit is never hidden behind a stale build.

import { writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const result = await build({
  entryPoints: { cli: 'lib/cli/entry.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  metafile: true,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
});
writeFileSync('dist/inputs.json', JSON.stringify(Object.keys(result.metafile.inputs)));
