/**
 * A one-line progress bar for long work (a backfill of thousands of
 * messages): count, rate and ETA, redrawn in place, on a terminal only (a log
 * file gets the summary, not a line every few seconds), never for a single
 * message, nothing at all with `--json` or `--quiet`. A log line written
 * meanwhile clears it first (`clearProgress`), so the two are never glued
 * together. Hand-written rather than a dependency: it is a few dozen lines
 * and must go through the CLI's redacting stderr.
 */

/** The bar now drawn, and the stream it is on. */
let drawnBar: { stream: NodeJS.WritableStream; owner: ProgressLine } | undefined;

/** Clears a progress bar drawn on `stream`, before another line is written there; the next update redraws it. */
export function clearProgress(stream: NodeJS.WritableStream): void {
  if (drawnBar?.stream !== stream) return;
  stream.write('\r\u001b[2K');
  drawnBar = undefined;
}
export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  enabled: boolean;
  now?: () => number;
}

export class ProgressLine {
  readonly #options: ProgressOptions;
  readonly #started: number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#started = (options.now ?? Date.now)();
  }

  update(label: string, done: number, total: number): void {
    const { stream, enabled } = this.#options;
    if (!enabled || stream.isTTY !== true || total < 2) return;
    const now = (this.#options.now ?? Date.now)();
    if (done < total && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const seconds = Math.max(0.001, (now - this.#started) / 1000);
    const rate = done / seconds;
    const width = 24;
    // A count past the total (a server that answered more than asked) must not break the bar.
    const filled = Math.min(width, Math.max(0, Math.round((done / total) * width)));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    // Nothing done yet says nothing about the rate: no "0 msg/s ETA 0s".
    const speed =
      done > 0
        ? ` ${rate.toFixed(0)} msg/s ETA ${formatDuration(Math.round(Math.max(0, total - done) / rate))}`
        : '';
    stream.write(`\r\u001b[2K${label} ${bar} ${done}/${total}${speed}`);
    this.#drawn = true;
    drawnBar = { stream, owner: this };
  }

  /** Ends the line so later output starts on a fresh one. */
  done(): void {
    if (this.#drawn && drawnBar?.owner === this) this.#options.stream.write('\n');
    if (drawnBar?.owner === this) drawnBar = undefined;
    this.#drawn = false;
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
