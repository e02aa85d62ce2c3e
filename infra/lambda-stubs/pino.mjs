/**
 * Stands in for `pino` in the Lambda bundles. ImapFlow creates a pino logger
 * only for a connection given no logger of its own; Postroom always passes its
 * own, so the Lambda bundles leave pino and its worker-thread transport out.
 * Reaching this is a bug.
 */
export default function pino() {
  throw new Error('ImapFlow needs a logger in the Postroom Lambda bundles (pass options.logger)');
}
