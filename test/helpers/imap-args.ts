/**
 * Command arguments as a scripted IMAP server reads them: atoms, quoted
 * strings (literals arrive already turned into quoted strings) and
 * parenthesised lists. Enough for the commands Postroom sends; not a
 * general IMAP parser.
 */

/** An atom or string, or a list of tokens. */
export type Token = string | Token[];

export function parseArgs(text: string): Token[] {
  let pos = 0;
  const list = (closing: string | undefined): Token[] => {
    const out: Token[] = [];
    while (pos < text.length) {
      const c = text[pos]!;
      if (c === ' ') {
        pos++;
      } else if (c === ')' && closing === ')') {
        pos++;
        return out;
      } else if (c === '(') {
        pos++;
        out.push(list(')'));
      } else if (c === '"') {
        pos++;
        let value = '';
        while (pos < text.length && text[pos] !== '"') {
          if (text[pos] === '\\') pos++;
          value += text[pos++] ?? '';
        }
        pos++;
        out.push(value);
      } else {
        const start = pos;
        // Brackets keep their content together: BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)].
        let depth = 0;
        while (pos < text.length) {
          const d = text[pos]!;
          if (d === '[') depth++;
          else if (d === ']') depth--;
          else if (depth === 0 && (d === ' ' || d === ')' || d === '(')) break;
          pos++;
        }
        out.push(text.slice(start, pos));
      }
    }
    return out;
  };
  return list(undefined);
}

/** The text of a token (a list's members joined by spaces); empty when absent. */
export function tokenText(token: Token | undefined): string {
  if (token === undefined) return '';
  return Array.isArray(token) ? token.map(tokenText).join(' ') : token;
}

/** A client's command line: its tag, its name upper case (`UID ` kept: `UID FETCH`) and the rest. */
export function splitCommand(line: string): { tag: string; name: string; args: string } | undefined {
  const match = /^(\S+) (UID )?(\S+) ?(.*)$/i.exec(line);
  if (!match) return undefined;
  return {
    tag: match[1]!,
    name: `${match[2]?.toUpperCase() ?? ''}${match[3]!.toUpperCase()}`,
    args: match[4] ?? '',
  };
}
