/**
 * IMAP response framing (RFC 3501 4.3, 7): lines ending in CRLF, and literals
 * announced as `{n}` (or `{n+}`, RFC 7888) at a line's end, whose n bytes
 * follow. Only framing: what a line means is the caller's business. A line is
 * bounded by `maxLineBytes` before any of it is joined, and literal bytes are
 * handed on as views of the socket chunks they arrived in, never copied.
 */

const LF = 0x0a;
/** A literal marker at the end of a line. At most 19 digits: anything longer is no size. */
const LITERAL_MARKER = /\{(\d{1,19})\+?\}$/;

export interface ReaderEvents {
  /** A line without a literal marker: the text (latin1, CRLF stripped) and its bytes. */
  line(text: string, raw: Buffer): void;
  /** A line announcing a literal of `size` bytes. */
  literalStart(text: string, raw: Buffer, size: number): void;
  /** Part of the current literal, in order. */
  literalBytes(piece: Buffer): void;
  literalEnd(): void;
  /** The line being read has passed `maxLineBytes`. Nothing more is read. */
  lineTooLong(bytes: number): void;
}

export class ResponseReader {
  private readonly events: ReaderEvents;
  private readonly maxLineBytes: number;
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  private literalRemaining = 0;
  private stopped = false;

  constructor(events: ReaderEvents, maxLineBytes: number) {
    this.events = events;
    this.maxLineBytes = maxLineBytes;
  }

  /** Stops reading: later chunks are ignored (the caller failed or finished). */
  stop(): void {
    this.stopped = true;
  }

  get inLiteral(): boolean {
    return this.literalRemaining > 0;
  }

  /** Feeds one chunk; returns the offset where reading stopped (the chunk's length unless stopped). */
  push(chunk: Buffer): number {
    let pos = 0;
    while (pos < chunk.length && !this.stopped) {
      if (this.literalRemaining > 0) {
        const take = Math.min(this.literalRemaining, chunk.length - pos);
        this.literalRemaining -= take;
        this.events.literalBytes(chunk.subarray(pos, pos + take));
        pos += take;
        if (this.literalRemaining === 0 && !this.stopped) this.events.literalEnd();
        continue;
      }
      const newline = chunk.indexOf(LF, pos);
      if (newline < 0) {
        this.lineParts.push(chunk.subarray(pos));
        this.lineLength += chunk.length - pos;
        if (this.lineLength > this.maxLineBytes) {
          this.stopped = true;
          this.events.lineTooLong(this.lineLength);
        }
        return chunk.length;
      }
      if (this.lineLength + newline + 1 - pos > this.maxLineBytes) {
        this.stopped = true;
        this.events.lineTooLong(this.lineLength + newline + 1 - pos);
        return pos;
      }
      const piece = chunk.subarray(pos, newline + 1);
      const raw = this.lineParts.length === 0 ? piece : Buffer.concat([...this.lineParts, piece]);
      this.lineParts = [];
      this.lineLength = 0;
      pos = newline + 1;
      this.onLine(raw);
    }
    return pos;
  }

  private onLine(raw: Buffer): void {
    let end = raw.length - 1;
    if (end > 0 && raw[end - 1] === 0x0d) end--;
    const text = raw.toString('latin1', 0, end);
    const marker = LITERAL_MARKER.exec(text);
    if (!marker) {
      this.events.line(text, raw);
      return;
    }
    const size = Number(marker[1]);
    this.literalRemaining = size;
    this.events.literalStart(text, raw, size);
    if (size === 0 && !this.stopped) this.events.literalEnd();
  }
}
