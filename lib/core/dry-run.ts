/**
 * The dry-run use case: which rules would fire on which messages, with what
 * actions — touching nothing. Messages come from .eml bytes or from a mailbox
 * opened with EXAMINE (read-only) and read with BODY.PEEK[] (no \Seen).
 */
import { Readable } from 'node:stream';
import { heldPieces, isHeldBytes } from '../held-bytes.ts';
import { verdictsFromHeaders } from '../mime/auth-results.ts';
import type { MailServer, MessageMeta } from '../ports.ts';
import { type ParsedMessage, parseMessage, type RuleInput, toRuleInput } from '../rules/message.ts';
import { evaluate } from '../rules/planner.ts';
import type { Rule } from '../rules/schema.ts';
import { actionDetail } from './process.ts';

export interface DryRunEntry {
  file?: string;
  uid?: number;
  subject?: string;
  rules: string[];
  actions: { rule: string; kind: string; detail?: string }[];
  warnings: string[];
}

export interface DryRunScope {
  account: string;
  mailbox: string;
  /** The account's `authservId`(s): their Authentication-Results answer `auth` conditions (no DNS in a dry run). */
  authservIds?: readonly string[];
}

/**
 * Evaluates the rules on one raw message. An unparseable message gets
 * envelope-level rules and a warning. A stream is parsed as it is read, as
 * `process` reads a blob, so a large message is never held in memory; give its
 * size (`{ size }`, or the server's `meta`) since the parse may stop early.
 */
export async function dryRunRaw(
  rules: readonly Rule[],
  raw: Uint8Array | Readable,
  scope: DryRunScope,
  meta?: MessageMeta | { size: number },
  now?: Date,
): Promise<DryRunEntry> {
  let parsed: ParsedMessage | undefined;
  const warnings: string[] = [];
  try {
    parsed = await parseMessage(
      raw instanceof Readable ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength),
    );
  } catch (error) {
    // Only a failing read gets here (parseMessage settles every parse itself).
    warnings.push(`message could not be read: ${(error as Error).message}`);
  }
  const facts =
    meta && 'uid' in meta
      ? {
          envelope: meta.envelope,
          flags: meta.flags,
          size: meta.size,
          internalDate: meta.internalDate,
          ...(meta.gmail ? { gmail: meta.gmail } : {}),
        }
      : { size: meta?.size ?? (raw instanceof Readable ? parsed?.size : raw.byteLength) };
  const input: RuleInput = toRuleInput(facts, parsed);
  if (parsed?.ok && scope.authservIds?.length)
    input.auth = verdictsFromHeaders(parsed.headers, scope.authservIds);
  const evaluation = evaluate(input, rules, scope, now ? { now } : {});
  return {
    ...(input.subject !== undefined ? { subject: input.subject } : {}),
    rules: evaluation.matched,
    actions: evaluation.actions.map((a) => {
      const detail = actionDetail(a);
      return { rule: a.rule, kind: a.kind, ...(detail !== undefined ? { detail } : {}) };
    }),
    warnings: [...warnings, ...evaluation.warnings],
  };
}

/** The newest `limit` messages of a mailbox, evaluated read-only. */
export async function dryRunMailbox(
  session: MailServer,
  rules: readonly Rule[],
  scope: DryRunScope,
  limit: number,
): Promise<DryRunEntry[]> {
  const state = await session.examine(scope.mailbox);
  if (state.exists === 0) return [];
  const uids = (await session.searchNewerThan(0)).sort((a, b) => a - b).slice(-limit);
  if (uids.length === 0) return [];
  const metas = await session.fetchMeta(uids, { envelope: true });
  const byUid = new Map(metas.map((m) => [m.uid, m]));
  const entries: DryRunEntry[] = [];
  await session.fetchSources(
    metas.map((m) => m.uid),
    new Map(metas.map((m) => [m.uid, m.size])),
    async (uid, source) => {
      // Streamed, never joined: held pieces are read in place, a large body as it arrives.
      const raw = isHeldBytes(source) ? Readable.from(heldPieces(source)) : source;
      entries.push({ uid, ...(await dryRunRaw(rules, raw, scope, byUid.get(uid))) });
    },
  );
  return entries.sort((a, b) => (a.uid ?? 0) - (b.uid ?? 0));
}
