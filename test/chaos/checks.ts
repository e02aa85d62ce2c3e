/**
 * What must hold after a chaos trial, read from the server (direct session)
 * and from the local store (SQLite, the blob folder, events.jsonl) and the
 * webhook receiver: every message delivered once, every action applied once,
 * the user's \Deleted mail untouched, no checkpoint ahead of the queue.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ARCHIVE, EVENT_TYPE, MAILBOX, MOVED, PAYLOAD_FLAG, TAG_FLAG, type World } from './world.ts';

/** One thing that went wrong. */
export interface Finding {
  kind: 'lost' | 'doubled' | 'hung';
  what: string;
}

const bare = (id: string | undefined) => (id ?? '').trim().replace(/^<|>$/g, '');

interface ServerCopy {
  uid: number;
  flags: string[];
}

/** Message-ID → copies in a mailbox (read-only). */
async function copiesIn(
  world: World,
  mailbox: string,
): Promise<{ uidValidity: number; byId: Map<string, ServerCopy[]> }> {
  const c = await world.client();
  const byId = new Map<string, ServerCopy[]>();
  try {
    const lock = await c.getMailboxLock(mailbox, { readOnly: true });
    try {
      const uidValidity = Number(c.mailbox ? c.mailbox.uidValidity : 0);
      if (c.mailbox && c.mailbox.exists > 0) {
        for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true }, { uid: true })) {
          const id = bare(m.envelope?.messageId);
          const list = byId.get(id) ?? [];
          list.push({ uid: m.uid, flags: [...(m.flags ?? [])] });
          byId.set(id, list);
        }
      }
      return { uidValidity, byId };
    } finally {
      lock.release();
    }
  } finally {
    await c.logout().catch(() => c.close());
  }
}

/** The Message-ID header of a stored raw blob (its first 64 KiB). */
function blobMessageId(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    const match = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(head.subarray(0, n).toString('latin1'));
    return match ? bare(match[1]) : undefined;
  } finally {
    closeSync(fd);
  }
}

interface StoreView {
  /** Message-ID → distinct (uidValidity/uid) under which it was queued. */
  queued: Map<string, Set<string>>;
  checkpoint?: { uidValidity: number; lastUid: number };
  pending: number;
  invisible: number;
  deadLetters: { uid: number; reason: string }[];
  tempFiles: number;
}

/** Reads the local store (read-only); a missing database reads as empty. */
export function readStore(world: World): StoreView {
  const view: StoreView = { queued: new Map(), pending: 0, invisible: 0, deadLetters: [], tempFiles: 0 };
  const dbFile = join(world.config.storeDir, 'postroom.db');
  if (!existsSync(dbFile)) return view;
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const tables = new Set(
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[],
    );
    if (tables.has('queue_sent')) {
      const rows = db.prepare('SELECT mailbox, uid_validity, uid FROM queue_sent').all() as {
        mailbox: string;
        uid_validity: number;
        uid: number;
      }[];
      for (const row of rows) {
        const file = join(
          world.config.storeDir,
          'raw',
          'chaos',
          encodeURIComponent(row.mailbox),
          String(row.uid_validity),
          `${row.uid}.eml`,
        );
        const id = existsSync(file) ? blobMessageId(file) : undefined;
        const key = id ?? `(no blob for ${row.uid_validity}/${row.uid})`;
        const set = view.queued.get(key) ?? new Set<string>();
        set.add(`${row.uid_validity}/${row.uid}`);
        view.queued.set(key, set);
      }
    }
    if (tables.has('checkpoints')) {
      const row = db
        .prepare('SELECT uid_validity, last_uid FROM checkpoints WHERE account = ? AND mailbox = ?')
        .get('chaos', MAILBOX) as { uid_validity: number; last_uid: number } | undefined;
      if (row) view.checkpoint = { uidValidity: row.uid_validity, lastUid: row.last_uid };
    }
    if (tables.has('queue_messages')) {
      const now = Date.now();
      view.pending = db.prepare('SELECT count(*) FROM queue_messages').pluck().get() as number;
      view.invisible = db
        .prepare('SELECT count(*) FROM queue_messages WHERE visible_at > ?')
        .pluck()
        .get(now) as number;
    }
    if (tables.has('dead_letter'))
      view.deadLetters = db.prepare('SELECT uid, reason FROM dead_letter').all() as {
        uid: number;
        reason: string;
      }[];
  } finally {
    db.close();
  }
  view.tempFiles = countTempFiles(world.config.storeDir);
  return view;
}

function countTempFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  let count = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile() && entry.name.endsWith('.tmp')) count++;
  return count;
}

/**
 * The checkpoint may only cover messages the queue has: every message now in
 * `Work` at or below the checkpoint's UID (same UIDVALIDITY) was queued.
 */
export async function checkCheckpoint(world: World): Promise<Finding[]> {
  const store = readStore(world);
  if (!store.checkpoint) return [];
  const work = await copiesIn(world, MAILBOX);
  if (work.uidValidity !== store.checkpoint.uidValidity) return [];
  const findings: Finding[] = [];
  for (const [id, copies] of work.byId) {
    const covered = copies.filter((c) => c.uid <= store.checkpoint!.lastUid);
    if (covered.length > 0 && !store.queued.has(id))
      findings.push({
        kind: 'lost',
        what: `checkpoint ${store.checkpoint.lastUid} ahead of the queue (UID ${covered[0]!.uid} not queued)`,
      });
  }
  return findings;
}

/** Parses events.jsonl; a line that is not JSON is a finding of its own. */
function readEvents(file: string): {
  events: { type: string; rule: string; messageId: string }[];
  corrupt: number;
} {
  if (!existsSync(file)) return { events: [], corrupt: 0 };
  const lines = readFileSync(file, 'utf8').split('\n');
  const events: { type: string; rule: string; messageId: string }[] = [];
  let corrupt = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    try {
      const event = JSON.parse(line) as {
        'detail-type': string;
        detail: { rule: string; messageId?: string };
      };
      events.push({
        type: event['detail-type'],
        rule: event.detail.rule,
        messageId: bare(event.detail.messageId),
      });
    } catch {
      corrupt++;
    }
  }
  return { events, corrupt };
}

function counted<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** Every check after the pipeline was let finish. */
export async function checkWorld(world: World): Promise<{ findings: Finding[]; notes: string[] }> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const lost = (what: string) => findings.push({ kind: 'lost', what });
  const doubled = (what: string) => findings.push({ kind: 'doubled', what });
  const [work, archive, moved] = [
    await copiesIn(world, MAILBOX),
    await copiesIn(world, ARCHIVE),
    await copiesIn(world, MOVED),
  ];
  const store = readStore(world);
  const { events, corrupt } = readEvents(world.config.eventsFile);
  if (corrupt > 0) lost(`${corrupt} corrupt line(s) in events.jsonl`);
  const eventCounts = counted(
    events.filter((e) => e.type === EVENT_TYPE && e.rule === 'tag'),
    (e) => e.messageId,
  );
  const hooks = world.webhook.accepted().map((call) => ({
    delivery: String(call.headers['x-postroom-delivery'] ?? ''),
    messageId: bare((JSON.parse(call.body) as { messageId?: string }).messageId),
  }));
  let repeatedDeliveries = 0;

  for (const m of world.seeded) {
    const id = bare(m.messageId);
    const label = `${m.kind} ${id.split('.')[0]}`;
    const queuedAs = store.queued.get(id)?.size ?? 0;
    if (queuedAs === 0) lost(`${label}: never queued`);
    if (queuedAs > 1)
      doubled(`${label}: queued ${queuedAs} times (${[...store.queued.get(id)!].join(', ')})`);

    const inWork = work.byId.get(id) ?? [];
    const inMoved = moved.byId.get(id) ?? [];
    const inArchive = (archive.byId.get(id) ?? []).length;
    if (m.kind === 'keep' || m.kind === 'userDeleted') {
      if (inWork.length === 0) lost(`${label}: gone from ${MAILBOX}`);
      if (inWork.length > 1) doubled(`${label}: ${inWork.length} copies in ${MAILBOX}`);
      if (inWork.length > 0 && !inWork.every((c) => c.flags.includes(TAG_FLAG)))
        lost(`${label}: flag missing`);
      if (
        m.kind === 'userDeleted' &&
        inWork.length > 0 &&
        !inWork.every((c) => c.flags.includes('\\Deleted'))
      )
        lost(`${label}: the user's \\Deleted flag was removed`);
    } else if (m.kind === 'move') {
      if (inMoved.length === 0) lost(`${label}: not moved`);
      if (inMoved.length > 1) doubled(`${label}: ${inMoved.length} copies in ${MOVED}`);
      if (inWork.length > 0) lost(`${label}: still in ${MAILBOX} after its move`);
      if (inMoved.length > 0 && !inMoved.every((c) => c.flags.includes(TAG_FLAG)))
        lost(`${label}: flag missing`);
    } else if (inWork.length > 0) lost(`${label}: not deleted`);
    const kept = m.kind === 'move' ? inMoved : m.kind === 'delete' ? [] : inWork;
    if (m.payload && kept.length > 0 && !kept.every((c) => c.flags.includes(PAYLOAD_FLAG)))
      lost(`${label}: content rule's flag missing`);
    if (inArchive === 0) lost(`${label}: no copy in ${ARCHIVE}`);
    if (inArchive > 1) doubled(`${label}: ${inArchive} copies in ${ARCHIVE}`);

    const eventsFor = eventCounts.get(id) ?? 0;
    if (eventsFor === 0) lost(`${label}: no event`);
    if (eventsFor > 1) doubled(`${label}: ${eventsFor} event lines`);
    const mine = hooks.filter((h) => h.messageId === id);
    const ids = new Set(mine.map((h) => h.delivery));
    if (mine.length === 0) lost(`${label}: no webhook`);
    // The same X-Postroom-Delivery again is a retry a receiver deduplicates; another id is a second delivery.
    if (ids.size > 1) doubled(`${label}: webhook delivered under ${ids.size} delivery ids`);
    repeatedDeliveries += mine.length - ids.size;
  }
  for (const dead of store.deadLetters) lost(`UID ${dead.uid} dead-lettered: ${dead.reason.slice(0, 120)}`);
  if (repeatedDeliveries > 0) notes.push(`${repeatedDeliveries} webhook retr(ies) with the same delivery id`);
  if (store.tempFiles > 0) notes.push(`${store.tempFiles} temp file(s) left in the store`);
  return { findings, notes };
}
