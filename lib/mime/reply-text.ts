/**
 * The new part of a reply: quoted text cut with planer (a port of Mailgun's
 * talon), then the signature: after an RFC 3676 `-- ` delimiter, or a short
 * trailing "Sent from my ..." line.
 */
import { createRequire } from 'node:module';

interface Planer {
  extractFromPlain(text: string): string;
}

let planer: Planer | undefined;

function load(): Planer {
  // planer is CommonJS without types; loaded on first use (only events that ask for `reply` need it).
  planer ??= createRequire(import.meta.url)('planer') as Planer;
  return planer;
}

const SENT_FROM =
  /^\s*(sent from my |sent from (outlook|mail) for |get outlook for |von meinem .* gesendet)/i;

function stripSignature(text: string): string {
  const lines = text.split('\n');
  const delimiter = lines.findIndex((line) => line.replace(/\r$/, '') === '-- ');
  const kept = delimiter >= 0 ? lines.slice(0, delimiter) : lines;
  // A mobile signature is the last non-empty line or two.
  for (let i = kept.length - 1, seen = 0; i >= 0 && seen < 2; i--) {
    if (kept[i]!.trim() === '') continue;
    seen++;
    if (SENT_FROM.test(kept[i]!)) {
      kept.splice(i);
      break;
    }
  }
  return kept.join('\n').trim();
}

/** The reply's own text; the whole text when nothing is quoted (or planer fails on it). */
export function replyText(text: string): string {
  let unquoted = text;
  try {
    unquoted = load().extractFromPlain(text);
  } catch {
    unquoted = text;
  }
  return stripSignature(unquoted);
}
