/**
 * Invokes a bundled handler the way Lambda does: a fresh Node process imports
 * `<bundle>/index.mjs` (its working directory and LAMBDA_TASK_ROOT the bundle),
 * calls `handler(event, context)` once and writes the result as JSON to a file.
 *
 *   node [NODE_OPTIONS] lambda-bundle-driver.mjs BUNDLE_DIR EVENT_JSON RESULT_FILE
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [bundleDir, eventJson, resultFile] = process.argv.slice(2);
const { handler } = await import(pathToFileURL(join(bundleDir, 'index.mjs')).href);
const deadline = Date.now() + 60_000;
const context = {
  awsRequestId: `bundle-${process.pid}`,
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'postroom-bundle',
  getRemainingTimeInMillis: () => deadline - Date.now(),
};
try {
  const result = await handler(JSON.parse(eventJson), context);
  writeFileSync(resultFile, JSON.stringify({ ok: true, result: result ?? null }));
} catch (error) {
  writeFileSync(
    resultFile,
    JSON.stringify({ ok: false, error: String(error?.message ?? error), stack: String(error?.stack ?? '') }),
  );
}
