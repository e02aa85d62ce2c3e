/**
 * Decoding header values: RFC 2047 encoded words in any charset the runtime's
 * ICU knows (Node 20/22 ship full ICU: ISO-8859-*, windows-125x, Shift_JIS,
 * ISO-2022-JP, EUC-*, GB18030, Big5, KOI8-*...), and raw 8-bit UTF-8 headers
 * (RFC 6532).
 */

// =?charset[*lang]?B|Q?text?= (RFC 2047 section 2; the language suffix is RFC 2231 section 5).
const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

// Charset names mail software uses that the WHATWG Encoding Standard spells differently.
const CHARSET_ALIASES: Record<string, string> = {
  'ks_c_5601-1987': 'euc-kr',
  'x-sjis': 'shift_jis',
  sjis: 'shift_jis',
  'x-euc-jp': 'euc-jp',
  cp932: 'shift_jis',
  'windows-31j': 'shift_jis',
  'iso-8859-8-i': 'iso-8859-8',
  'x-gbk': 'gbk',
  'ansi_x3.4-1968': 'windows-1252',
};

function decoderFor(charset: string): { decode(bytes: Uint8Array): string } {
  const name = charset.toLowerCase();
  // UTF-7 is refused on purpose (as mailparser does): `+ADw-script+AD4-` would
  // decode to markup, and the encoding is not needed for real mail any more.
  if (!/^(utf-?7|unicode-1-1-utf-7)$/.test(name)) {
    try {
      return new TextDecoder(CHARSET_ALIASES[name] ?? name);
    } catch {
      // Unknown label: fall through to UTF-8 with replacement characters.
    }
  }
  return new TextDecoder('utf-8');
}

function qBytes(text: string): Buffer {
  // RFC 2047 4.2: "_" is a space, =XX a byte; anything else stands for itself.
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '_') bytes.push(0x20);
    else if (char === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(char.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

/**
 * Decodes the encoded words of an (unfolded) header value. Whitespace between two
 * encoded words is dropped (RFC 2047 6.2), and adjacent words in the same charset
 * are decoded together, because encoders split multi-byte characters (UTF-8,
 * Shift_JIS) across words.
 *
 * @example decodeWords('=?ISO-8859-1?Q?Gro=DFes_Gewinnspiel?=') === 'Großes Gewinnspiel'
 */
export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  let out = '';
  let pending: { charset: string; chunks: Buffer[] } | undefined;
  let last = 0;
  const flush = () => {
    if (pending) out += decoderFor(pending.charset).decode(Buffer.concat(pending.chunks));
    pending = undefined;
  };
  for (const match of value.matchAll(ENCODED_WORD)) {
    const between = value.slice(last, match.index);
    if (!(pending && /^\s*$/.test(between))) {
      flush();
      out += between;
    }
    const charset = match[1]!.split('*')[0]!.toLowerCase();
    const bytes = match[2]!.toUpperCase() === 'B' ? Buffer.from(match[3]!, 'base64') : qBytes(match[3]!);
    if (pending && pending.charset !== charset) flush();
    if (pending) pending.chunks.push(bytes);
    else pending = { charset, chunks: [bytes] };
    last = match.index + match[0].length;
  }
  flush();
  return out + value.slice(last);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A binary string (one char per byte) to text: UTF-8 when it is valid UTF-8, else windows-1252. */
export function rawToText(binary: string): string {
  // Already text (a character above 0xFF cannot come from one byte), or plain ASCII.
  let eightBit = false;
  for (let i = 0; i < binary.length; i++) {
    const code = binary.charCodeAt(i);
    if (code > 0xff) return binary;
    if (code >= 0x80) eightBit = true;
  }
  if (!eightBit) return binary;
  const bytes = Buffer.from(binary, 'latin1');
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // Unlabelled 8-bit headers from old software are nearly always Latin-1/windows-1252.
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/**
 * Turns one raw header line as mailparser hands it over (a binary string,
 * folding included) into `{ name, value }`: the name lower case, the value
 * unfolded (RFC 5322 2.2.3), raw UTF-8 read as UTF-8, encoded words decoded.
 */
export function decodeHeaderLine(line: string): { name: string; value: string } {
  const text = rawToText(line);
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  const raw = colon < 0 ? '' : text.slice(colon + 1);
  return { name, value: decodeWords(raw.replace(/\r?\n(?=[ \t])/g, '').trim()) };
}
