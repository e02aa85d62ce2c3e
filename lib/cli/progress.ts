/**
 * A one-line progress bar for long work (a backfill of thousands of
 * messages): count, rate and ETA, redrawn in place on a TTY, a plain line
 * every few seconds elsewhere, nothing at all with `--json` or `--quiet`.
 * Hand-written rather than a dependency: it is thirty lines and must go
 * through the CLI's redacting stderr.
 */
export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  enabled: boolean;
  now?: () => number;
}

export class ProgressLine {
  readonly #options: ProgressOptions;
  readonly #started: number;
  #lastDraw = 0;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#started = (options.now ?? Date.now)();
  }

  update(label: string, done: number, total: number): void {
    if (!this.#options.enabled || total === 0) return;
    const now = (this.#options.now ?? Date.now)();
    const tty = this.#options.stream.isTTY === true;
    if (done < total && now - this.#lastDraw < (tty ? 100 : 5000)) return;
    this.#lastDraw = now;
    const seconds = Math.max(0.001, (now - this.#started) / 1000);
    const rate = done / seconds;
    const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
    const width = 24;
    // A count past the total (a server that answered more than asked) must not break the bar.
    const filled = Math.min(width, Math.max(0, Math.round((done / total) * width)));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const text = `${label} ${bar} ${done}/${total} ${rate.toFixed(0)} msg/s ETA ${formatDuration(eta)}`;
    if (tty) {
      this.#options.stream.write(`\r\u001b[2K${text}`);
      this.#drawn = true;
    } else {
      this.#options.stream.write(`${text}\n`);
    }
  }

  /** Ends the line so later output starts on a fresh one. */
  done(): void {
    if (this.#drawn) this.#options.stream.write('\n');
    this.#drawn = false;
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
