/** `--account ID` as the operator's commands read it: the accounts it names, or an error listing the valid ids. */
import type { AccountConfig, PostroomConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';

export function chosenAccounts(
  config: PostroomConfig,
  id: string | undefined,
  file: string,
): AccountConfig[] {
  if (id === undefined) return config.accounts;
  const accounts = config.accounts.filter((a) => a.id === id);
  if (accounts.length === 0) {
    const valid = config.accounts.map((a) => a.id).join(', ') || '(no accounts configured)';
    throw new ConfigError(`no account "${id}" in ${file}`, [`--account: expected one of ${valid}`]);
  }
  return accounts;
}
