/**
 * The one error every part of the private Dovecot raises when it cannot start,
 * in its own module so the parts can share it without importing each other.
 */

/** Raised when Dovecot cannot be started; the message quotes Dovecot's own complaint. */
export class DovecotStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DovecotStartError';
  }
}
