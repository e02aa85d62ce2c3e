/**
 * The replay use case behind `postroom replay`: the current rules over raw
 * mail already in the blob store (never fetched again), for one account and
 * mailbox, chosen by UID or by date. A dry run plans each message (marking
 * what the idempotency records say is done); `apply` hands the messages to
 * `processBatch`, so only the (message, rule, action)s not done before are
 * done, with every guarantee of the process use case, and a second apply
 * finds nothing left to do.
 *
 * What a replayed message is: its blob key names it (`raw/<account>/<mailbox>/
 * <uidValidity>/<uid>.eml`); its envelope and Message-ID are read from its
 * header as the poller reads them; its size is the blob's. The server's flags
 * and internal date are not in the store: flag conditions see no flags, and
 * the Date header (else the time the blob was stored) stands in for the
 * internal date, for `--since` and for `age`/`date` conditions alike.
 *
 * Written against the ports only.
 */
import { PostroomError } from '../errors.ts';
import { headerFacts, MAX_HEADER_BYTES } from '../mime/header-envelope.ts';
import { type BlobEntry, type CheckpointStore, type QueueMessage, silentLogger } from '../ports.ts';
import { readHead } from './blob-head.ts';
import { mailboxKeySegment } from './keys.ts';
import {
  type ActionReport,
  type ItemResult,
  type ProcessDependencies,
  plan,
  processBatch,
  skipDone,
} from './process.ts';
import { actionDetail } from './process-work.ts';

export interface ReplayDependencies extends ProcessDependencies {
  checkpoints: CheckpointStore;
}

/** Which UIDs: a parsed `--uids` set; `highest` is what `*` stands for (the highest stored UID). */
export type UidSelector = (uid: number, highest: number) => boolean;

export interface ReplayOptions {
  account: string;
  mailbox: string;
  /** Messages dated on or after this. */
  since?: Date;
  uids?: UidSelector;
  /** Do the actions not done before; otherwise only say what would be done. */
  apply: boolean;
  /** Messages per `processBatch` (one IMAP session per batch). @default 50 */
  batchSize?: number;
  onBatch?(items: ReplayItem[]): void;
}

/** An action of a replayed message; `pending`: not done before, would be done by `--apply`. */
export type ReplayAction = Omit<ActionReport, 'status'> & { status: ActionReport['status'] | 'pending' };

export interface ReplayItem extends Omit<ItemResult, 'actions' | 'id'> {
  actions: ReplayAction[];
}

export interface ReplayResult {
  /** The UIDVALIDITY whose mail was replayed (the checkpoint's; else the newest stored). */
  uidValidity?: number;
  applied: boolean;
  messages: number;
  /** Actions done by this replay (apply) or that it would do (dry run). */
  todo: number;
  alreadyDone: number;
  failed: number;
}

/** Parses an IMAP-style UID set (`4`, `1:20`, `7,9:12,30:*`); throws on anything else. */
export function parseUidSet(text: string): UidSelector {
  const ranges: [string, string][] = [];
  for (const part of text.split(',')) {
    const match = /^(\d{1,10}|\*)(?::(\d{1,10}|\*))?$/.exec(part.trim());
    if (!match) throw new PostroomError('USAGE', `--uids: "${part}" is not a UID or a range like 4:20`);
    const from = match[1]!;
    const to = match[2] ?? from;
    if (from === '0' || to === '0') throw new PostroomError('USAGE', '--uids: UIDs start at 1');
    ranges.push([from, to]);
  }
  const bound = (text: string, highest: number) => (text === '*' ? highest : Number(text));
  return (uid, highest) =>
    ranges.some(([a, b]) => {
      const [low, high] = [bound(a, highest), bound(b, highest)].sort((x, y) => x - y) as [number, number];
      return uid >= low && uid <= high;
    });
}

export async function replay(deps: ReplayDependencies, options: ReplayOptions): Promise<ReplayResult> {
  const { blobs } = deps;
  if (!blobs.list) {
    throw new PostroomError('REPLAY_UNAVAILABLE', 'this blob store cannot list its blobs: replay needs that');
  }
  if (!deps.accounts.some((a) => a.id === options.account)) {
    throw new PostroomError('ACCOUNT_UNKNOWN', `account ${options.account} is not in the config`);
  }
  const prefix = `raw/${options.account}/${mailboxKeySegment(options.mailbox)}/`;
  const stored = new Map<number, { uid: number; entry: BlobEntry }[]>();
  for await (const entry of blobs.list(prefix)) {
    const match = /^(\d+)\/(\d+)\.eml$/.exec(entry.key.slice(prefix.length));
    if (!match) continue;
    const uidValidity = Number(match[1]);
    const uid = Number(match[2]);
    const list = stored.get(uidValidity) ?? [];
    list.push({ uid, entry });
    stored.set(uidValidity, list);
  }
  const checkpoint = await deps.checkpoints.get(options.account, options.mailbox);
  // UIDs the user names are the mailbox's current ones: those of the checkpoint's UIDVALIDITY.
  const uidValidity = checkpoint?.uidValidity ?? Math.max(...stored.keys());
  const all = (stored.get(uidValidity) ?? []).sort((a, b) => a.uid - b.uid);
  const highest = all.at(-1)?.uid ?? 0;
  const candidates = options.uids ? all.filter(({ uid }) => options.uids!(uid, highest)) : all;
  const result: ReplayResult = {
    ...(Number.isFinite(uidValidity) ? { uidValidity } : {}),
    applied: options.apply,
    messages: 0,
    todo: 0,
    alreadyDone: 0,
    failed: 0,
  };
  const batchSize = options.batchSize ?? 50;
  for (let i = 0; i < candidates.length; i += batchSize) {
    const messages: QueueMessage[] = [];
    for (const { uid, entry } of candidates.slice(i, i + batchSize)) {
      const message = await storedMessage(deps, options, uidValidity, uid, entry);
      if (message) messages.push(message);
    }
    if (messages.length === 0) continue;
    const batch = messages.map((message) => ({ id: message.blob.key, message, receiveCount: 1 }));
    let items: ReplayItem[];
    if (options.apply) {
      items = (await processBatch(deps, batch)).items.map(withoutId);
    } else {
      // One at a time, as processBatch plans: a parsed message is held only while it is planned.
      items = [];
      for (const item of batch) items.push(await dryRun(deps, item));
    }
    for (const item of items) {
      result.messages += 1;
      if (item.status === 'failed') result.failed += 1;
      for (const action of item.actions) {
        if (action.status === 'already-done') result.alreadyDone += 1;
        else if (action.status !== 'failed') result.todo += 1;
      }
    }
    options.onBatch?.(items);
  }
  return result;
}

async function dryRun(deps: ReplayDependencies, item: Parameters<typeof plan>[1]): Promise<ReplayItem> {
  const work = await plan(deps, item, deps.logger);
  // Marks what the idempotency records say is done, as processBatch does before acting.
  await skipDone(deps, [work], deps.logger ?? silentLogger);
  const pending: ReplayAction[] = work.pending.map((action) => ({
    rule: action.rule,
    kind: action.kind,
    ...(actionDetail(action) !== undefined ? { detail: actionDetail(action) } : {}),
    status: 'pending',
  }));
  const { id: _id, ...result } = work.result;
  return { ...result, actions: [...result.actions, ...pending] };
}

function withoutId(item: ItemResult): ReplayItem {
  const { id: _id, ...rest } = item;
  return rest;
}

/** The queue message the poller would have sent, rebuilt from the stored blob; undefined when `--since` excludes it. */
async function storedMessage(
  deps: ReplayDependencies,
  options: ReplayOptions,
  uidValidity: number,
  uid: number,
  entry: BlobEntry,
): Promise<QueueMessage | undefined> {
  const header = headerFacts(await readHead(deps.blobs, entry.key, MAX_HEADER_BYTES));
  const dated = header.envelope.date ?? entry.modifiedAt.toISOString();
  if (options.since && Date.parse(dated) < options.since.getTime()) return undefined;
  return {
    v: 1,
    account: options.account,
    mailbox: options.mailbox,
    uidValidity,
    uid,
    ...(header.messageId ? { messageId: header.messageId } : {}),
    internalDate: dated,
    size: entry.size,
    flags: [],
    envelope: header.envelope,
    blob: { key: entry.key },
  };
}
