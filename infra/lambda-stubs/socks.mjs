/**
 * Stands in for `socks` in the Lambda bundles. ImapFlow imports it for SOCKS
 * proxies, which Postroom's config has no key for, so the Lambda bundles leave
 * the client out (every cold start parses less). Reaching this is a bug.
 */
export const SocksClient = {
  createConnection() {
    throw new Error('SOCKS proxies are not supported in the Postroom Lambda bundles');
  },
};
