import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Terminal } from '#lib/cli/output.ts';
import { ProgressLine } from '#lib/cli/progress.ts';

/** A stream that records what was written, as a terminal (or not) would receive it. */
function recorder(isTTY: boolean): PassThrough & { isTTY: boolean; text(): string } {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; text(): string };
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  stream.isTTY = isTTY;
  stream.text = () => chunks.join('');
  return stream;
}

describe('the progress line', () => {
  it('is drawn on a terminal, with no rate before anything is done', () => {
    // Prepare
    const stream = recorder(true);
    let now = 0;
    const progress = new ProgressLine({ stream, enabled: true, now: () => now });
    // Act
    progress.update('a/INBOX', 0, 3000);
    now = 2000;
    progress.update('a/INBOX', 1000, 3000);
    progress.done();
    // Assess
    expect(stream.text()).toContain('a/INBOX [........................] 0/3000\r');
    expect(stream.text()).not.toMatch(/ 0 msg\/s|ETA 0s/);
    expect(stream.text()).toContain('1000/3000 500 msg/s ETA 4s\n');
  });

  it('is not written to a log file, nor drawn for a single message', () => {
    // Prepare
    const log = recorder(false);
    const tty = recorder(true);
    // Act
    new ProgressLine({ stream: log, enabled: true }).update('a/INBOX', 10, 3000);
    new ProgressLine({ stream: tty, enabled: true }).update('a/INBOX', 0, 1);
    // Assess
    expect(log.text()).toBe('');
    expect(tty.text()).toBe('');
  });

  it('is cleared before a log line, so the two are never glued together', () => {
    // Prepare
    const stream = recorder(true);
    const terminal = new Terminal({ stderr: stream, level: 'debug', color: false });
    const progress = new ProgressLine({ stream, enabled: true });
    // Act
    progress.update('a/INBOX', 5, 50);
    terminal.debug('fetched a batch');
    progress.done();
    // Assess: the bar, then a clear, then the log line on a line of its own, and no stray newline
    const text = stream.text();
    expect(text.endsWith('\r\u001b[2Kdebug fetched a batch\n')).toBe(true);
    expect(text.split('\n')).toEqual([expect.stringContaining('5/50'), '']);
  });
});
