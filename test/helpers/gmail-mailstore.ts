/**
 * The mail model of the scripted Gmail server (`gmail-imap-server.ts`):
 * messages stored once, shown in one folder per label, each folder with UIDs
 * of its own, and what COPY, MOVE and EXPUNGE mean for labels.
 */

/** One message: stored once, shown in every folder its labels name. */
export interface GmailMessage {
  msgId: string;
  threadId: string;
  raw: Buffer;
  /** User labels and system labels (`\Inbox`, `\Starred`), as X-GM-LABELS lists them. */
  labels: Set<string>;
  flags: Set<string>;
  /** In `[Gmail]/Trash` (and no other folder). */
  trashed: boolean;
  /** Gone for good (expunged from the Trash). */
  deleted: boolean;
  internalDate: string;
}

export interface Folder {
  name: string;
  specialUse?: string;
  uidValidity: number;
  uidNext: number;
  /** msgId → UID in this folder, while the message shows here. */
  uids: Map<string, number>;
  /** UIDs marked \Deleted in this folder (Gmail keeps \Deleted per folder). */
  deletedFlags: Set<number>;
}

export const SPECIAL: Record<string, string> = {
  '[Gmail]/All Mail': '\\All',
  '[Gmail]/Trash': '\\Trash',
  '[Gmail]/Spam': '\\Junk',
  '[Gmail]/Sent Mail': '\\Sent',
};

/** A small message with a Message-ID and a subject. */
export function gmailMessage(n: number, subject = `gmail message ${n}`): string {
  return [
    `Message-ID: <gmail-${n}@postroom.test>`,
    'From: Billing <billing@vendor.test>',
    'To: support@postroom.test',
    `Subject: ${subject}`,
    'Date: Thu, 01 Jan 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Body of message ${n}.`,
    '',
  ].join('\r\n');
}

export type GmailStore = ReturnType<typeof createGmailStore>;

export function createGmailStore(labels: string[] = []) {
  const messages = new Map<string, GmailMessage>();
  const folders = new Map<string, Folder>();
  let nextMsgId = 1_650_000_000_000_000_001n;
  let nextValidity = 11;

  const folder = (name: string): Folder => {
    let found = folders.get(name);
    if (!found) {
      found = {
        name,
        uidValidity: nextValidity++,
        uidNext: 1,
        uids: new Map(),
        deletedFlags: new Set(),
        ...(SPECIAL[name] ? { specialUse: SPECIAL[name] } : {}),
      };
      folders.set(name, found);
    }
    return found;
  };
  for (const name of ['INBOX', ...Object.keys(SPECIAL), ...labels]) folder(name);

  /** Whether a message shows in a folder, by Gmail's rules. */
  const showsIn = (m: GmailMessage, f: Folder): boolean => {
    if (m.deleted) return false;
    if (f.specialUse === '\\Trash') return m.trashed;
    if (m.trashed) return false;
    if (f.specialUse === '\\All') return !m.labels.has('\\Spam');
    if (f.specialUse === '\\Junk') return m.labels.has('\\Spam');
    if (f.name === 'INBOX') return m.labels.has('\\Inbox');
    if (f.specialUse) return false;
    return m.labels.has(f.name);
  };
  /** Gives messages that entered a folder a new UID there, and forgets those that left. */
  const sync = () => {
    for (const m of messages.values())
      for (const label of m.labels) if (!label.startsWith('\\')) folder(label);
    for (const f of folders.values()) {
      for (const m of messages.values()) {
        const shown = showsIn(m, f);
        if (shown && !f.uids.has(m.msgId)) f.uids.set(m.msgId, f.uidNext++);
        if (!shown && f.uids.has(m.msgId)) {
          f.deletedFlags.delete(f.uids.get(m.msgId)!);
          f.uids.delete(m.msgId);
        }
      }
    }
  };
  const byUid = (f: Folder) => {
    const list = [...f.uids.entries()].map(([msgId, uid]) => ({ uid, m: messages.get(msgId)! }));
    return list.sort((a, b) => a.uid - b.uid);
  };
  const inSet = (f: Folder, set: string) => {
    const list = byUid(f);
    const highest = list.at(-1)?.uid ?? 0;
    const wanted = (uid: number) =>
      set.split(',').some((part) => {
        const [a, b = a] = part.split(':').map((n) => (n === '*' ? highest : Number(n)));
        return uid >= Math.min(a!, b!) && uid <= Math.max(a!, b!);
      });
    return list.filter((e) => wanted(e.uid));
  };

  /** Adds a label's meaning to a message: COPY to that folder. */
  const copyTo = (m: GmailMessage, target: Folder) => {
    if (target.specialUse === '\\Trash') m.trashed = true;
    else if (target.specialUse === '\\Junk') m.labels.add('\\Spam');
    else if (target.name === 'INBOX') m.labels.add('\\Inbox');
    else if (!target.specialUse) m.labels.add(target.name);
  };
  /** What leaving a folder means: the label comes off; from the Trash, the message is deleted. */
  const removeFrom = (m: GmailMessage, source: Folder, by: 'move' | 'expunge') => {
    if (source.specialUse === '\\Trash') m.deleted = true;
    // Nothing leaves All Mail but for the Trash or Spam: a MOVE out of it only adds the target's label.
    else if (source.specialUse === '\\All') m.trashed = by === 'expunge';
    else if (source.specialUse === '\\Junk') m.labels.delete('\\Spam');
    else if (source.name === 'INBOX') m.labels.delete('\\Inbox');
    else m.labels.delete(source.name);
  };

  const fetchLine = (f: Folder, seq: number, uid: number, m: GmailMessage, args: string): Buffer => {
    const items = [`UID ${uid}`];
    if (/RFC822\.SIZE/i.test(args)) items.push(`RFC822.SIZE ${m.raw.length}`);
    if (/INTERNALDATE/i.test(args)) items.push(`INTERNALDATE "${m.internalDate}"`);
    if (/FLAGS/i.test(args.replace(/X-GM-LABELS/gi, '')))
      items.push(`FLAGS (${[...m.flags, ...(f.deletedFlags.has(uid) ? ['\\Deleted'] : [])].join(' ')})`);
    if (/X-GM-MSGID/i.test(args)) items.push(`X-GM-MSGID ${m.msgId}`);
    if (/X-GM-THRID/i.test(args)) items.push(`X-GM-THRID ${m.threadId}`);
    if (/X-GM-LABELS/i.test(args)) items.push(`X-GM-LABELS (${[...m.labels].map(quoteLabel).join(' ')})`);
    const parts: Buffer[] = [Buffer.from(`* ${seq} FETCH (${items.join(' ')}`)];
    const header = /BODY(?:\.PEEK)?\[HEADER\.FIELDS \(([^)]*)\)\]/i.exec(args);
    if (header) {
      const wanted = header[1]!.toLowerCase().split(/\s+/);
      const text = m.raw.toString('latin1').split('\r\n\r\n')[0]!;
      const lines = text.split('\r\n').filter((l) => wanted.includes(l.split(':')[0]!.toLowerCase()));
      const block = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      parts.push(Buffer.from(` BODY[HEADER.FIELDS (${header[1]})] {${block.length}}\r\n`), block);
    } else if (/BODY(?:\.PEEK)?\[\]/i.test(args)) {
      parts.push(Buffer.from(` BODY[] {${m.raw.length}}\r\n`), m.raw);
    }
    parts.push(Buffer.from(')\r\n'));
    return Buffer.concat(parts);
  };

  return {
    folders,
    folder,
    sync,
    byUid,
    inSet,
    copyTo,
    removeFrom,
    fetchLine,
    /** Adds a message (labels: `\Inbox` for INBOX, user labels by name); returns its X-GM-MSGID. */
    add: (raw: string | Buffer, labels: string[], addOptions: { threadId?: string } = {}): string => {
      const msgId = String(nextMsgId++);
      const day = String(messages.size + 1).padStart(2, '0');
      messages.set(msgId, {
        msgId,
        threadId: addOptions.threadId ?? msgId,
        raw: Buffer.from(raw),
        labels: new Set(labels),
        flags: new Set(),
        trashed: false,
        deleted: false,
        internalDate: `${day}-Jan-2026 10:00:00 +0000`,
      });
      sync();
      return msgId;
    },
    message: (msgId: string): GmailMessage => {
      const m = messages.get(msgId);
      if (!m) throw new Error(`no message ${msgId}`);
      return m;
    },
    /** UIDs shown in a folder now, ascending. */
    folderUids: (name: string): number[] => {
      sync();
      const f = folders.get(name);
      return f ? [...f.uids.values()].sort((a, b) => a - b) : [];
    },
  };
}

/** A label or folder name as an IMAP string: an atom when it can be, else quoted. */
export function quoteLabel(label: string): string {
  return /^[\\A-Za-z0-9$_./-]+$/.test(label) && !label.includes('[') ? label : JSON.stringify(label);
}
