/**
 * How the Lambda handlers are bundled with esbuild: stubs, dual-format
 * packages, iconv-lite's tables and the config file copied beside the bundle.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { libmimeBuild } from './lazy-libmime.ts';

/** The name of the config file bundled next to each handler (`POSTROOM_CONFIG_FILE`). */
export const BUNDLED_CONFIG_FILE = 'postroom.config.json';

/** How iconv-lite requires its code tables (`encodings/dbcs-data.js`). */
const ICONV_TABLES_IMPORT = './tables/*';

/** iconv-lite's tables folder, as installed (the copy imapflow and mailparser use). */
function iconvTablesDir(): string {
  const pkg = createRequire(import.meta.url).resolve('iconv-lite/package.json');
  return join(dirname(pkg), 'encodings', 'tables');
}

/** Dependencies replaced in the Lambda bundles: module name → stub file (each says why). */
const MODULE_STUBS: Record<string, string> = {
  socks: fileURLToPath(new URL('./lambda-stubs/socks.mjs', import.meta.url)),
  pino: fileURLToPath(new URL('./lambda-stubs/pino.mjs', import.meta.url)),
  'linkify-it': fileURLToPath(new URL('./lambda-stubs/linkify-it.mjs', import.meta.url)),
};

/**
 * Packages published as both ES modules and CommonJS that the bundles reach
 * both ways: mailsplit `require`s them, ImapFlow and mailparser `import` them.
 * Left alone, esbuild bundles both builds, and every cold start parses both.
 */
const DUAL_FORMAT_PACKAGES = ['libmime', 'libbase64', 'libqp'];

/**
 * Each dual-format package → its CommonJS build: one copy per bundle. libmime's
 * is a copy that builds no GBK codec when it loads (`lazy-libmime.ts`).
 */
function commonJsBuilds(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const builds = Object.fromEntries(DUAL_FORMAT_PACKAGES.map((name) => [name, require.resolve(name)]));
  return { ...builds, libmime: libmimeBuild().entry };
}

/** esbuild settings shared by both functions (and by `bench/lambda.ts`). */
export function bundlingOptions(configFile: string): nodejs.BundlingOptions {
  return {
    format: nodejs.OutputFormat.ESM,
    target: 'node22',
    // ESM has no `require`; CommonJS dependencies (imapflow, mailparser…) still call it.
    banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
    mainFields: ['module', 'main'],
    minify: true,
    sourceMap: true,
    // Stack traces map to file and line without shipping the sources themselves.
    sourcesContent: false,
    // Bundle the AWS SDK too, so the version tested is the version deployed.
    // The one exception is data, not code: iconv-lite's CJK code tables (the
    // largest part of it) stay JSON files beside the bundle, loaded only when
    // a message in such a charset is decoded, so every cold start parses less.
    externalModules: [ICONV_TABLES_IMPORT],
    // Two of ImapFlow's dependencies Postroom never reaches (a SOCKS client, for
    // proxies the config cannot name, and pino, for connections given no logger)
    // become stubs that throw: less to parse on every cold start.
    // mailparser's linkifier, for the `textAsHtml` Postroom turns off, becomes one
    // that finds no links: it compiled its URL patterns whenever mailparser loaded.
    // Dual-format packages resolve to their CommonJS build, whichever way imported.
    esbuildArgs: Object.fromEntries(
      Object.entries({ ...MODULE_STUBS, ...commonJsBuilds() }).map(([name, file]) => [
        `--alias:${name}`,
        file,
      ]),
    ),
    forceDockerBundling: false,
    logLevel: nodejs.LogLevel.WARNING,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => [
        `cp ${shellQuote(configFile)} ${shellQuote(join(outputDir, BUNDLED_CONFIG_FILE))}`,
        // `require('./tables/x.json')` in the bundle resolves beside index.mjs.
        `cp -R ${shellQuote(iconvTablesDir())} ${shellQuote(join(outputDir, 'tables'))}`,
      ],
    },
  };
}

function shellQuote(value: string): string {
  return `'${resolve(value).replaceAll("'", `'\\''`)}'`;
}
