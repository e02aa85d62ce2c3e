/**
 * Stack traces of a bundled Lambda handler, mapped back to the TypeScript
 * sources through the bundle's source map, read only when a stack trace is
 * first formatted.
 *
 * Why not `--enable-source-maps`: Node then reads and indexes the whole map
 * while it loads the bundle, on every cold start, error or not, a noticeable
 * share of importing a handler. `source-map-support` does this lazily too,
 * but brings the `source-map` package, more to parse at every cold start;
 * Node's own `module.SourceMap` does the decoding here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Installs `Error.prepareStackTrace` for the bundle at `moduleUrl` (pass
 * `import.meta.url`). Does nothing when there is no `<bundle>.map` beside it
 * (running from the TypeScript sources) or when Node maps stacks itself.
 */
export function installLazySourceMaps(moduleUrl: string): void {
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) return;
  const bundleFile = fileURLToPath(moduleUrl);
  const mapFile = `${bundleFile}.map`;
  if (!existsSync(mapFile)) return;
  const bundleUrl = pathToFileURL(bundleFile).href;

  let map: SourceMap | null | undefined;
  const sourceMap = (): SourceMap | null => {
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')));
      } catch {
        map = null; // an unreadable map leaves stacks as they are
      }
    }
    return map;
  };
  const mapDirUrl = pathToFileURL(`${dirname(mapFile)}/`);
  const original = (site: NodeJS.CallSite) => {
    const file = site.getFileName();
    const line = site.getLineNumber();
    const column = site.getColumnNumber();
    if ((file !== bundleUrl && file !== bundleFile) || line === null || column === null) return undefined;
    const entry = sourceMap()?.findEntry(line - 1, column - 1);
    if (!entry || !('originalSource' in entry)) return undefined;
    // Sources are relative to the map, as Node resolves them with --enable-source-maps.
    const source = fileURLToPath(new URL(entry.originalSource, mapDirUrl));
    const name = (entry as { name?: string }).name; // in Node 20 and 22, not yet in their types
    return { location: `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`, name };
  };

  Error.prepareStackTrace = (error, sites) => {
    let header: string;
    try {
      header = Error.prototype.toString.call(error);
    } catch {
      header = 'Error';
    }
    // Formatting a trace must never throw: a frame that cannot be mapped stays as V8 gave it.
    const mapped = sites.map((site) => {
      try {
        return original(site);
      } catch {
        return undefined;
      }
    });
    const lines = sites.map((site, index) => {
      const here = mapped[index];
      if (!here) return `    at ${site.toString()}`;
      // A source map names identifiers at positions; the function a frame is in
      // is named where its caller (the next frame) calls it.
      const name = mapped[index + 1]?.name ?? site.getFunctionName() ?? '<anonymous>';
      const prefix = site.isAsync() ? 'async ' : site.isConstructor() ? 'new ' : '';
      return `    at ${prefix}${name} (${here.location})`;
    });
    return [header, ...lines].join('\n');
  };
}
