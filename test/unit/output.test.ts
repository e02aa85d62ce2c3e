import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { displayWidth, printable, Redactor, Terminal, table } from '#lib/cli/output.ts';

describe('terminal output', () => {
  it('aligns table columns by display width, so CJK and emoji subjects line up', () => {
    const text = table(
      ['subject', 'rules'],
      [
        ['請求書 3月分', 'invoices'],
        ['hello 👋', 'alerts'],
        ['plain', '-'],
      ],
    );
    // Where the second column starts, in terminal columns, on the header and each row.
    const lines = text.split('\n').filter((_, i) => i !== 1);
    const starts = lines.map((l) => displayWidth(l.slice(0, l.search(/(invoices|alerts|-|rules)$/))));
    expect(new Set(starts).size).toBe(1);
    expect(displayWidth('請求書')).toBe(6);
    expect(displayWidth('e\u0301')).toBe(1);
  });

  it('redacts every registered secret from logs and printed output', () => {
    const redactor = new Redactor();
    redactor.add('s3cret-value');
    const stderr = new PassThrough();
    const stdout = new PassThrough();
    const terminal = new Terminal({ level: 'debug', redactor, stderr, stdout, color: false });
    terminal.debug('login with s3cret-value', { password: 's3cret-value' });
    terminal.json({ echoed: 'x s3cret-value y' });
    const out = `${stderr.read()}${stdout.read()}`;
    expect(out).not.toContain('s3cret-value');
    expect(out).toContain('***');
  });
});

describe('mail text in tables', () => {
  it('reaches the terminal without control characters or escape sequences', () => {
    // Prepare: what an RFC 2047 subject can decode to
    const subject = 'Invoice\u001b[2J\u001b]0;pwned\u0007 due\r\nnow\u0000\u009b!';
    // Act
    const rendered = table(['uid', 'subject'], [[1, subject]]);
    // Assess
    expect(printable(subject)).toBe('Invoice due  now  !');
    // Rows are joined by newlines; nothing else below 0x20, and no DEL or C1.
    const controls = [...rendered].filter((char) => char !== '\n' && /\p{Cc}/u.test(char));
    expect(controls).toEqual([]);
    expect(rendered.split('\n')).toHaveLength(3);
  });
});
