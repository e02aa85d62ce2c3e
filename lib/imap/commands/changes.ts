/**
 * Flag changes since a mod-sequence (RFC 7162, CONDSTORE):
 * `UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE <modseq>)`. Using CHANGEDSINCE
 * enables CONDSTORE for the session by itself (RFC 7162 3.1), so no ENABLE
 * round trip is needed. Bounded: at most `maxChanges` answers are kept.
 */
import type { FlagChange } from '../../ports.ts';
import type { Untagged } from '../flow-internals.ts';
import type { ImapSession } from '../session.ts';
import { isNzNumber } from '../uid-sets.ts';

const MAX_CHANGES = 100_000;

/** The FETCH data items of one untagged FETCH, as `UID`, `FLAGS`, `MODSEQ` pairs. */
function fetchItems(untagged: Untagged): Map<string, unknown> {
  const items = new Map<string, unknown>();
  const list = (untagged.attributes?.[1] ?? untagged.attributes?.[0]) as unknown;
  if (!Array.isArray(list)) return items;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const key = (list[i] as { value?: unknown })?.value;
    if (typeof key === 'string') items.set(key.toUpperCase(), list[i + 1]);
  }
  return items;
}

function atomValue(value: unknown): string | undefined {
  const v = (value as { value?: unknown })?.value;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

export async function fetchFlagChanges(
  session: ImapSession,
  sinceModSeq: string,
  maxChanges = MAX_CHANGES,
): Promise<FlagChange[]> {
  session.requireSelected('UID FETCH CHANGEDSINCE');
  if (!/^\d{1,20}$/.test(sinceModSeq)) throw new Error(`not a mod-sequence: ${sinceModSeq}`);
  const changes: FlagChange[] = [];
  await session.exec(
    'UID FETCH',
    [
      { type: 'SEQUENCE', value: '1:*' },
      [
        { type: 'ATOM', value: 'UID' },
        { type: 'ATOM', value: 'FLAGS' },
      ],
      [
        { type: 'ATOM', value: 'CHANGEDSINCE' },
        { type: 'ATOM', value: sinceModSeq },
      ],
    ],
    `UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE ${sinceModSeq})`,
    {
      FETCH: async (untagged) => {
        if (changes.length >= maxChanges) return;
        const items = fetchItems(untagged);
        const uid = Number(atomValue(items.get('UID')));
        const flags = items.get('FLAGS');
        if (!isNzNumber(uid) || !Array.isArray(flags)) return;
        const modseq = items.get('MODSEQ');
        const modSeq = Array.isArray(modseq) ? atomValue(modseq[0]) : undefined;
        changes.push({
          uid,
          flags: flags
            .map(atomValue)
            .filter((f): f is string => f !== undefined && f.toLowerCase() !== '\\recent'),
          ...(modSeq ? { modSeq } : {}),
        });
      },
    },
  );
  return changes;
}
