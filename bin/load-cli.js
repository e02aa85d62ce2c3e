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
  // The AWS SDK warns on every command under Node 20 that versions published
  // from 2027 will need Node 22. package-lock.json pins the SDK Postroom was
  // tested with, and the Lambdas run Node 22: the nine lines say nothing the
  // user can act on here. A user who wants them sets the variable to false.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (buildIsFresh()) return import('../dist/cli.mjs');
  const { register } = await import('tsx/esm/api');
  register();
  return import('../lib/cli/entry.ts');
}

/** Exits with `code` once stdout and stderr have handed on what was written to them (at most a second). */
export async function exitAfterOutput(code) {
  const flushed = (stream) =>
    stream.writableLength === 0 ? Promise.resolve() : new Promise((resolve) => stream.once('drain', resolve));
  const deadline = new Promise((resolve) => setTimeout(resolve, 1000).unref());
  await Promise.race([Promise.all([flushed(process.stdout), flushed(process.stderr)]), deadline]);
  process.exit(code);
}
