/**
 * What `npm start` runs: `postroom run` when the config names a real account,
 * `postroom demo` when there is no config or it names only placeholders, and
 * nothing (exit 2, with the problems) when the config is not valid.
 *
 * "Real" means: the config file exists, validates, keeps its state locally
 * (`store.kind: local`; `postroom run` refuses `aws`, where the Lambdas do
 * the work) and has at least one account whose host is not a placeholder.
 * Placeholders are the names reserved for documentation (RFC 2606 and
 * RFC 6761): `example.com`, `example.net`, `example.org` and their
 * subdomains, and anything under the `.example` or `.invalid` top-level
 * domains. `localhost`, loopback addresses and `.test` hosts count as real:
 * a user may well run their own server there.
 */
import { loadConfig } from '../../config/load.ts';
import { ConfigError } from '../../errors.ts';

export interface StartMode {
  /** `refuse`: the file exists but is not valid; nothing should start (exit 2). */
  mode: 'run' | 'demo' | 'refuse';
  /** One line for the user: which mode and why. */
  reason: string;
  /** With `refuse`: the problems, as `path: message` lines. */
  problems?: string[];
}

/** True for documentation host names that can never be a user's real server. */
export function isPlaceholderHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  return (
    /(^|\.)example\.(com|net|org)$/.test(name) || /(^|\.)example$/.test(name) || /(^|\.)invalid$/.test(name)
  );
}

/** Decides between `postroom run` on `file` and the demo. Never throws. */
export async function chooseStartMode(file: string): Promise<StartMode> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(file);
  } catch (error) {
    const missing = error instanceof ConfigError && /no such file/.test(error.message);
    if (missing) {
      return {
        mode: 'demo',
        reason: `no ${file}: starting the demo (write ${file} with your account to process real mail)`,
      };
    }
    // A file the user wrote and got wrong is theirs to fix: a demo would scroll the problems away.
    return {
      mode: 'refuse',
      reason: `${file} is not valid, so nothing was started (postroom validate --config ${file} checks it again):`,
      problems:
        error instanceof ConfigError && error.problems.length > 0
          ? error.problems
          : [error instanceof Error ? error.message : String(error)],
    };
  }
  const real = config.accounts.filter((account) => !isPlaceholderHost(account.host));
  if (real.length === 0) {
    const hosts = config.accounts.map((a) => a.host).join(', ');
    return {
      mode: 'demo',
      reason:
        config.accounts.length === 0
          ? `${file} has no accounts: starting the demo`
          : `${file} only names placeholder hosts (${hosts}): starting the demo`,
    };
  }
  if (config.store.kind !== 'local') {
    return {
      mode: 'demo',
      reason: `${file} keeps its state in AWS (store.kind: aws), where the Lambdas do the work: starting the demo`,
    };
  }
  return {
    mode: 'run',
    reason: `${file} names ${real.map((a) => `${a.id} (${a.host})`).join(', ')}: running postroom run`,
  };
}
