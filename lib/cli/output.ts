/**
 * Terminal output for the `postroom` command: human lines on stderr (colour
 * only on a TTY), machine JSON on stdout, and one redactor through which every
 * line passes so that a secret value can never be printed, at any log level.
 */
import { inspect } from 'node:util';
import type { Logger } from '../ports.ts';
import { clearProgress } from './progress.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/** Replaces every registered secret value with `***` in any text that passes through. */
export class Redactor {
  readonly #secrets = new Set<string>();

  add(secret: string): void {
    // Very short values would redact ordinary words; no real password is that short.
    if (secret.length >= 4) this.#secrets.add(secret);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join('***');
    return out;
  }
}

/** The process-wide redactor: every Terminal shares it unless given another. */
export const sharedRedactor = new Redactor();

export interface TerminalOptions {
  level?: LogLevel;
  /** @default process.stderr.isTTY && !NO_COLOR */
  color?: boolean;
  stderr?: NodeJS.WritableStream;
  stdout?: NodeJS.WritableStream;
  redactor?: Redactor;
}

/** The CLI's printer and logger. */
export class Terminal implements Logger {
  readonly redactor: Redactor;
  readonly #level: number;
  readonly #color: boolean;
  readonly #stderr: NodeJS.WritableStream;
  readonly #stdout: NodeJS.WritableStream;

  constructor(options: TerminalOptions = {}) {
    this.redactor = options.redactor ?? sharedRedactor;
    this.#level = LEVELS[options.level ?? 'warn'];
    this.#stderr = options.stderr ?? process.stderr;
    this.#stdout = options.stdout ?? process.stdout;
    const isTty = (this.#stderr as { isTTY?: boolean }).isTTY === true;
    this.#color = options.color ?? (isTty && !process.env.NO_COLOR && process.env.TERM !== 'dumb');
  }

  get color(): boolean {
    return this.#color;
  }

  debug(message: string, attributes?: Record<string, unknown>): void {
    this.#log('debug', message, attributes);
  }
  info(message: string, attributes?: Record<string, unknown>): void {
    this.#log('info', message, attributes);
  }
  warn(message: string, attributes?: Record<string, unknown>): void {
    this.#log('warn', message, attributes);
  }
  error(message: string, attributes?: Record<string, unknown>): void {
    this.#log('error', message, attributes);
  }

  /** A line for people, on stderr. */
  say(text: string): void {
    clearProgress(this.#stderr);
    this.#stderr.write(`${this.redactor.redact(text)}\n`);
  }

  /** Plain output on stdout (tables, `config OK`). */
  print(text: string): void {
    this.#stdout.write(`${this.redactor.redact(text)}\n`);
  }

  /** Machine output on stdout: exactly one JSON document. */
  json(value: unknown): void {
    this.#stdout.write(`${this.redactor.redact(JSON.stringify(value, null, 2))}\n`);
  }

  paint(style: 'red' | 'green' | 'yellow' | 'dim' | 'bold', text: string): string {
    if (!this.#color) return text;
    const codes = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
    return `\u001b[${codes[style]}m${text}\u001b[0m`;
  }

  #log(level: LogLevel, message: string, attributes?: Record<string, unknown>): void {
    if (LEVELS[level] < this.#level) return;
    const tag =
      level === 'error'
        ? this.paint('red', level)
        : level === 'warn'
          ? this.paint('yellow', level)
          : this.paint('dim', level);
    const attrs =
      attributes && Object.keys(attributes).length > 0
        ? ` ${Object.entries(attributes)
            .map(
              ([k, v]) =>
                `${k}=${typeof v === 'string' ? v : inspect(v, { breakLength: Number.POSITIVE_INFINITY, depth: 3 })}`,
            )
            .join(' ')}`
        : '';
    clearProgress(this.#stderr);
    this.#stderr.write(`${this.redactor.redact(`${tag} ${message}${attrs}`)}\n`);
  }
}

/**
 * Terminal columns a string takes: East Asian wide and fullwidth characters
 * and emoji take two, combining marks none (subjects are often Japanese or
 * Chinese, and padding by string length would break the alignment).
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (/\p{Mn}|\p{Me}|\u200d|\ufe0f/u.test(char)) continue;
    const wide =
      (code >= 0x1100 && code <= 0x115f) ||
      (code >= 0x2e80 && code <= 0xa4cf) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe30 && code <= 0xfe4f) ||
      (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1f300 && code <= 0x1faff) ||
      (code >= 0x20000 && code <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}

const ESC = '\u001b';
const BEL = '\u0007';
/** CSI … final byte, OSC … BEL or ST, and any other ESC-introduced sequence. */
const ESCAPE_SEQUENCE = new RegExp(
  `${ESC}\\[[0-?]*[ -/]*[@-~]|${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)?|${ESC}[@-_]?`,
  'g',
);
/** C0 and C1 controls and DEL (Unicode's Cc). */
const CONTROL_CHARACTER = /\p{Cc}/gu;

/**
 * Text from mail (a subject, an address) made safe for a terminal: an RFC 2047
 * encoded word can carry ESC, CR or any other control character, and an
 * escape sequence in a table would move the cursor, recolour or retitle the
 * user's terminal. C0 and C1 controls and DEL become a space; escape
 * sequences go whole.
 */
export function printable(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL_CHARACTER, ' ');
}

/** Renders rows as an aligned text table (no colour codes inside cells, so widths stay true). */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => printable(String(c))))];
  const widths = headers.map((_, col) => Math.max(...cells.map((r) => displayWidth(r[col] ?? ''))));
  const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - displayWidth(text)));
  const line = (r: string[]) =>
    r
      .map((c, col) => (col === r.length - 1 ? c : pad(c, widths[col]!)))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}
