/**
 * UID COPY (RFC 3501 6.4.7) and UID MOVE (RFC 6851), to a folder given by its
 * server path (`ServerPath`: already mapped, never mapped again), with the
 * UIDs the copies got where the server says (COPYUID, RFC 4315).
 */
import type { RemovalOutcome, ServerPath } from '../../ports.ts';
import { encodeMailboxPath, type Untagged } from '../flow-internals.ts';
import type { ImapSession } from '../session.ts';
import { expandSet, uidSets } from '../uid-sets.ts';
import { removeMessages } from './expunge.ts';

/** Where the copies went, when the server said. */
export interface CopyResult {
  /** Source UID → UID in the target mailbox. */
  uidMap?: Map<number, number>;
  /** UIDVALIDITY of the target mailbox. */
  targetUidValidity?: number;
}

export async function copyMessages(
  session: ImapSession,
  uids: number[],
  path: ServerPath,
): Promise<CopyResult> {
  session.requireSelected('UID COPY');
  const result: CopyResult = {};
  for (const set of uidSets(uids)) {
    const response = await session.exec(
      'UID COPY',
      [
        { type: 'SEQUENCE', value: set },
        { type: 'STRING', value: encodeMailboxPath(session.client, path) },
      ],
      `UID COPY ${set} "${session.logicalName(path)}"`,
    );
    mergeCopyResult(result, parseCopyUid(response) ?? {});
  }
  return result;
}

/**
 * `UID MOVE` where offered; else `UID COPY` + `\Deleted` + `UID EXPUNGE`
 * (method `copy+expunge`), or the originals left marked without UIDPLUS
 * (`copy+deleted`, `expunged: false`).
 */
export async function moveMessages(
  session: ImapSession,
  uids: number[],
  path: ServerPath,
): Promise<RemovalOutcome & CopyResult> {
  session.requireSelected('UID MOVE', true);
  const sets = uidSets(uids);
  if (session.capabilities.has('MOVE')) {
    const result: RemovalOutcome & CopyResult = { expunged: true, method: 'move' };
    for (const set of sets) {
      let copyUid: CopyResult = {};
      const response = await session.exec(
        'UID MOVE',
        [
          { type: 'SEQUENCE', value: set },
          { type: 'STRING', value: encodeMailboxPath(session.client, path) },
        ],
        `UID MOVE ${set} "${session.logicalName(path)}"`,
        {
          // RFC 6851 3.3: COPYUID arrives in an untagged OK before the expunges.
          OK: async (untagged) => {
            copyUid = parseCopyUid(untagged) ?? copyUid;
          },
        },
      );
      mergeCopyResult(result, parseCopyUid(response) ?? copyUid);
    }
    return result;
  }
  const copied = sets.length > 0 ? await copyMessages(session, uids, path) : {};
  const removal = await removeMessages(session, uids, `moved to "${session.logicalName(path)}" by copy`);
  return {
    ...copied,
    expunged: removal.expunged,
    method: removal.expunged ? 'copy+expunge' : 'copy+deleted',
  };
}

/** `[COPYUID uidvalidity source-set target-set]` from a tagged or untagged OK. */
function parseCopyUid(response: Untagged | undefined): CopyResult | undefined {
  const section = response?.attributes?.[0]?.section as { value?: unknown }[] | undefined;
  if (!Array.isArray(section) || String(section[0]?.value).toUpperCase() !== 'COPYUID') return undefined;
  const targetUidValidity = Number(section[1]?.value);
  const source = expandSet(String(section[2]?.value ?? ''));
  const target = expandSet(String(section[3]?.value ?? ''));
  if (source.length !== target.length) return { targetUidValidity };
  return { targetUidValidity, uidMap: new Map(source.map((uid, index) => [uid, target[index]!])) };
}

function mergeCopyResult(into: CopyResult, from: CopyResult): void {
  if (from.targetUidValidity !== undefined) into.targetUidValidity = from.targetUidValidity;
  if (from.uidMap) {
    into.uidMap ??= new Map();
    for (const [source, target] of from.uidMap) into.uidMap.set(source, target);
  }
}
