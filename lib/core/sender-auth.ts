/**
 * The sender verdicts of one message, as the account's config says to
 * establish them: Postroom's own check (`verifyAuth: true`, which reads the raw
 * message again and asks DNS), the trusted Authentication-Results of the
 * account's `authservId`, or none at all (every method `none`).
 */
import type { AccountConfig } from '../config/schema.ts';
import { type AuthVerdicts, noVerdicts, verdictsFromHeaders } from '../mime/auth-results.ts';
import { type DnsResolver, verifySender } from '../mime/verify-auth.ts';
import type { BlobStore, QueueMessage } from '../ports.ts';
import type { ParsedMessage } from '../rules/message.ts';
import { type RuleScope, ruleApplies } from '../rules/planner.ts';
import type { Condition, Rule } from '../rules/schema.ts';

export interface SenderAuthDependencies {
  accounts?: readonly AccountConfig[];
  blobs: BlobStore;
  /** DNS for `verifyAuth` (tests inject one). @default node:dns */
  dnsResolver?: DnsResolver;
}

export async function senderVerdicts(
  deps: SenderAuthDependencies,
  message: QueueMessage,
  parsed: ParsedMessage,
): Promise<AuthVerdicts> {
  const account = deps.accounts?.find((a) => a.id === message.account);
  if (account?.verifyAuth === true) {
    const raw = await deps.blobs.get(message.blob.key);
    try {
      return await verifySender(raw, {
        ...(deps.dnsResolver ? { resolver: deps.dnsResolver } : {}),
        mta: account.host,
      });
    } finally {
      if ('destroy' in raw && typeof raw.destroy === 'function' && !raw.destroyed) raw.destroy();
    }
  }
  const ids = account?.authservId === undefined ? [] : [account.authservId].flat();
  return ids.length > 0 ? verdictsFromHeaders(parsed.headers, ids) : noVerdicts();
}

function usesAuth(condition: Condition): boolean {
  if (condition.auth !== undefined) return true;
  return (
    (condition.all ?? []).some(usesAuth) ||
    (condition.any ?? []).some(usesAuth) ||
    (condition.not !== undefined && usesAuth(condition.not))
  );
}

/** Whether any rule in scope has an `auth` condition. */
export function rulesUseAuth(rules: readonly Rule[], scope: RuleScope): boolean {
  return rules.some((rule) => ruleApplies(rule, scope) && rule.when !== undefined && usesAuth(rule.when));
}
