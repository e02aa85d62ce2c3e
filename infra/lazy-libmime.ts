/**
 * libmime, as the Lambda bundles take it: its CommonJS build with one line
 * made lazy.
 *
 * When libmime loads, `charset.js` asks iconv-lite for the GBK codec only to
 * learn which decoder class iconv-lite's double-byte codecs share. Building that
 * codec reads and parses GBK's code tables and fills its encode and decode
 * tables: a sizeable share of every cold start of either function (`npm run
 * bench:lambda` prints the import time), for mail that is almost never in
 * GBK. In the copy,
 * the lookup happens the first time a double-byte charset is decoded; what it
 * returns, and so every decoding, is the same.
 *
 * The copy is written under `node_modules/.cache/postroom/`, where the
 * `require`s of its dependencies resolve as the original's do (checked, file by
 * file); when that is not so, or the line is not found (another libmime
 * version), the bundles use the build as installed: slower to load, otherwise
 * the same. A test fails when the installed libmime is not patched.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, sep } from 'node:path';

const EAGER_LOOKUP = "const DBCS_DECODER = iconv_lite_1.default.getCodec('gbk').decoder;";
const LAZY_LOOKUP =
  "let DBCS_DECODER; const dbcsDecoder = () => (DBCS_DECODER ??= iconv_lite_1.default.getCodec('gbk').decoder);";
const EAGER_USE = 'codec.decoder === DBCS_DECODER';
const LAZY_USE = 'codec.decoder === dbcsDecoder()';

/** The packages libmime's CommonJS build `require`s. */
const DEPENDENCIES = ['iconv-lite', 'encoding-japanese', 'libbase64', 'libqp'];

export interface LibmimeBuild {
  /** The entry point to bundle: the patched copy's, or the installed build's. */
  entry: string;
  /** Whether `entry` is the patched copy. */
  patched: boolean;
}

/** The libmime build for the bundles; see the module comment. */
export function libmimeBuild(resolveFrom: string = import.meta.url): LibmimeBuild {
  const installed = createRequire(resolveFrom).resolve('libmime');
  const fallback = { entry: installed, patched: false };
  const buildDir = dirname(installed);
  const source = readFileSync(join(buildDir, 'charset.js'), 'utf8');
  if (!source.includes(EAGER_LOOKUP) || !source.includes(EAGER_USE)) return fallback;
  const patched = source.replace(EAGER_LOOKUP, LAZY_LOOKUP).replace(EAGER_USE, LAZY_USE);

  const marker = `${sep}node_modules${sep}`;
  const at = installed.lastIndexOf(marker);
  if (at < 0) return fallback;
  const hash = createHash('sha256').update(patched).digest('hex').slice(0, 16);
  const copyDir = join(installed.slice(0, at + marker.length), '.cache', 'postroom', `libmime-cjs-${hash}`);
  const copyEntry = join(copyDir, basename(installed));
  if (!sameResolution(installed, copyEntry)) return fallback;

  if (!existsSync(copyEntry)) {
    // Built beside and renamed into place: synths running at once never see half a copy.
    const staging = `${copyDir}.${process.pid}-${Date.now()}`;
    try {
      cpSync(buildDir, staging, { recursive: true });
      writeFileSync(join(staging, 'charset.js'), patched);
      renameSync(staging, copyDir);
    } catch {
      rmSync(staging, { recursive: true, force: true });
      // Another synth may have put it there first; anything else (a read-only
      // node_modules) leaves the installed build.
      if (!existsSync(copyEntry)) return fallback;
    }
  }
  return { entry: copyEntry, patched: true };
}

/** True when each dependency resolves to the same file from `copyEntry`'s folder as from `installed`'s. */
function sameResolution(installed: string, copyEntry: string): boolean {
  const fromInstalled = createRequire(installed);
  const fromCopy = createRequire(copyEntry);
  return DEPENDENCIES.every((name) => {
    try {
      return fromInstalled.resolve(name) === fromCopy.resolve(name);
    } catch {
      return false;
    }
  });
}
