// Loads the CLI: the build in dist/ when it is there and newer than every
// source it was built from (see scripts/build-cli.mjs), else the TypeScript
// sources through tsx.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function buildIsFresh() {
  if (process.env.POSTROOM_FROM_SOURCE === '1') return false;
  const built = `${root}dist/cli.mjs`;
  const inputs = `${root}dist/inputs.json`;
  if (!existsSync(built) || !existsSync(inputs)) return false;
  const builtAt = statSync(built).mtimeMs;
  try {
    return JSON.parse(readFileSync(inputs, 'utf8')).every(
      (file) => statSync(`${root}${file}`).mtimeMs <= builtAt,
    );
  } catch {
    return false;
  }
}

export async function loadCli() {
  if (buildIsFresh()) return import('../dist/cli.mjs');
  const { register } = await import('tsx/esm/api');
  register();
  return import('../lib/cli/entry.ts');
}
