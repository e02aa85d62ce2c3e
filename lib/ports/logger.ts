/**
 * The logging port, and the silent logger used where none is injected.
 */
/**
 * The logging port: Powertools' Logger in Lambda, a console logger in the CLI.
 * Attributes are structured; never put secrets or message bodies in them.
 */
export interface Logger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** A logger that drops everything (the default where none is injected). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
