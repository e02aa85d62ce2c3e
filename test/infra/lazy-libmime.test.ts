import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { libmimeBuild } from '../../infra/lazy-libmime.ts';

const installed = createRequire(import.meta.url).resolve('libmime');

/** Loads a libmime build in a fresh process and reports which codecs iconv-lite built. */
function codecsBuiltOnLoad(entry: string): string[] {
  const iconv = createRequire(entry).resolve('iconv-lite');
  const script = `require(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(require(${JSON.stringify(iconv)})._codecDataCache)))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

/** Decodes `bytes` in `charset` through libmime's stream decoder, fed `chunk` bytes at a time. */
async function decodeInChunks(entry: string, charset: string, bytes: Buffer, chunk: number): Promise<string> {
  const { createDecodeStream } = createRequire(entry)(join(dirname(entry), 'charset.js'));
  const stream = createDecodeStream(charset);
  const out: Buffer[] = [];
  stream.on('data', (data: Buffer) => out.push(data));
  const done = new Promise((resolve) => stream.on('end', resolve));
  for (let i = 0; i < bytes.length; i += chunk) stream.write(bytes.subarray(i, i + chunk));
  stream.end();
  await done;
  return Buffer.concat(out).toString('utf8');
}

describe('the libmime build in the Lambda bundles', () => {
  const build = libmimeBuild();

  it('is a patched copy for the libmime installed (an upgrade that moves the line fails here)', () => {
    expect(build.patched).toBe(true);
    expect(build.entry).toMatch(/\/node_modules\/\.cache\/postroom\/libmime-cjs-[0-9a-f]{16}\/libmime\.js$/);
    // Written once: a second call finds it.
    expect(libmimeBuild()).toEqual(build);
  });

  it('builds no GBK codec when it loads, where the installed build does', () => {
    expect(codecsBuiltOnLoad(installed)).toContain('gbk');
    expect(codecsBuiltOnLoad(build.entry)).not.toContain('gbk');
  });

  it('decodes double-byte charsets as the installed build does, word by word and in a stream', async () => {
    const original = createRequire(import.meta.url)(installed);
    const copy = createRequire(import.meta.url)(build.entry);
    const words = [
      '=?GBK?B?xOO6ww==?=', // 你好
      '=?GB18030?B?1tDOxIGwgTA=?=',
      '=?Big5?B?pKSk5Q==?=', // 中文
      '=?EUC-KR?B?x9Gx27D4?=',
      '=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=', // 日本語
    ];
    for (const word of words) expect(copy.decodeWords(word)).toBe(original.decodeWords(word));
    expect(copy.decodeWords(words[0])).toBe('你好');

    // Split one byte at a time: every double-byte character crosses a chunk boundary.
    const gbk = Buffer.from('c4e3bac32c20cac0bde7a3a1', 'hex'); // 你好, 世界！
    for (const chunk of [1, 3, 64]) {
      const [fromCopy, fromOriginal] = await Promise.all([
        decodeInChunks(build.entry, 'gbk', gbk, chunk),
        decodeInChunks(installed, 'gbk', gbk, chunk),
      ]);
      expect(fromCopy).toBe(fromOriginal);
      expect(fromCopy).toBe('你好, 世界！');
    }
  });
});
