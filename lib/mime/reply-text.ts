/**
 * The new part of a reply: quoted text cut with planer (a port of Mailgun's
 * talon), then the signature: after an RFC 3676 `-- ` delimiter, or a short
 * trailing "Sent from my ..." line.
 */
type Planer = typeof import('planer');

let planer: Promise<Planer> | undefined;

/** Loaded on first use (only events that ask for `reply` need it); a literal import, so bundlers include it. */
function load(): Promise<Planer> {
  planer ??= import('planer').then(
    (module) => ((module as { default?: Planer }).default ?? module) as Planer,
  );
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
export async function replyText(text: string): Promise<string> {
  const { extractFromPlain } = await load();
  let unquoted = text;
  try {
    unquoted = extractFromPlain(text);
  } catch {
    unquoted = text;
  }
  return stripSignature(unquoted);
}
