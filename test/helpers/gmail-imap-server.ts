/**
 * A scripted IMAP server that behaves like Gmail where Postroom can tell, in
 * process, plaintext, on 127.0.0.1 and a free port: `X-GM-EXT-1`, messages
 * that live once and show in one folder per label (INBOX is the `\Inbox`
 * label, `[Gmail]/All Mail` holds everything not in the Trash or Spam), each
 * folder with UIDs of its own, X-GM-MSGID / X-GM-THRID / X-GM-LABELS in
 * FETCH, `±X-GM-LABELS` in STORE, special-use attributes in LIST, and the
 * label semantics of COPY, MOVE and EXPUNGE (an expunge in a label folder
 * only removes the label; in the Trash it deletes).
 *
 * With `capabilities` and `commands` it plays other servers too: the
 * Microsoft 365 tests give it Exchange's capabilities and a LOGIN or
 * NAMESPACE hook that answers like a throttled Exchange.
 *
 * Tests read the server's state directly (`message`, `folderUids`), never
 * through the adapter under test.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { createGmailStore, type Folder, type GmailMessage, quoteLabel } from './gmail-mailstore.ts';
import { parseArgs, splitCommand, type Token, tokenText } from './imap-args.ts';

export { type GmailMessage, gmailMessage } from './gmail-mailstore.ts';

/** What a command hook sees. */
export interface ScriptedCommand {
  tag: string;
  /** Upper case, `UID ` kept: `LOGIN`, `UID STORE`. */
  name: string;
  args: string;
  write(data: string | Buffer): void;
  /** The default (Gmail-like) answer. */
  answer(): void;
  /** Ends the connection after what was written. */
  end(): void;
  /** How many times this command name has been received, this one included. */
  count: number;
}

export interface GmailServerOptions {
  /** @default Gmail's: IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID CHILDREN X-GM-EXT-1 UIDPLUS MOVE */
  capabilities?: string;
  /** Hooks by command name; each replaces the default answer (call `answer()` to give it anyway). */
  commands?: Record<string, (command: ScriptedCommand) => void>;
  /** Extra user labels that have a folder, besides those messages carry. */
  labels?: string[];
}

export interface GmailServer {
  port: number;
  /** Every command received, as `NAME args`. */
  commands: string[];
  /** Adds a message (labels: `\Inbox` for INBOX, user labels by name). Returns its X-GM-MSGID. */
  add(raw: string | Buffer, labels: string[], options?: { threadId?: string }): string;
  message(msgId: string): GmailMessage;
  /** UIDs shown in a folder now, ascending. */
  folderUids(name: string): number[];
  close(): Promise<void>;
}

export const GMAIL_CAPABILITIES =
  'IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID CHILDREN X-GM-EXT-1 UIDPLUS MOVE';

/** Exchange Online's capabilities after login: no CONDSTORE, no QRESYNC. */
export const MICROSOFT_CAPABILITIES =
  'IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+';

export async function startGmailServer(options: GmailServerOptions = {}): Promise<GmailServer> {
  const capabilities = options.capabilities ?? GMAIL_CAPABILITIES;
  const commands: string[] = [];
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const store = createGmailStore(options.labels);
  const { folders, sync, byUid, inSet, copyTo, removeFrom, fetchLine, folder } = store;

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let selected: Folder | undefined;
    let readOnly = true;
    const write = (data: string | Buffer) => {
      if (!socket.destroyed) socket.write(data);
    };

    const expungeAnswer = (f: Folder, gone: number[]) => {
      // Sequence numbers as they were, highest first, so each stays valid as the earlier ones go.
      const before = [...f.uids.values()].sort((a, b) => a - b);
      return gone
        .map((uid) => before.indexOf(uid) + 1)
        .filter((seq) => seq > 0)
        .sort((a, b) => b - a)
        .map((seq) => `* ${seq} EXPUNGE\r\n`)
        .join('');
    };

    const defaults: Record<string, (c: ScriptedCommand, tokens: Token[]) => void> = {
      CAPABILITY: (c) => write(`* CAPABILITY ${capabilities}\r\n${c.tag} OK Thats all she wrote!\r\n`),
      LOGIN: (c) => write(`${c.tag} OK [CAPABILITY ${capabilities}] user authenticated (Success)\r\n`),
      ID: (c) => write(`* ID ("name" "GImap" "vendor" "Google, Inc.")\r\n${c.tag} OK Success\r\n`),
      NAMESPACE: (c) => write(`* NAMESPACE (("" "/")) NIL NIL\r\n${c.tag} OK Success\r\n`),
      NOOP: (c) => write(`${c.tag} OK Success\r\n`),
      ENABLE: (c) => write(`${c.tag} OK Success\r\n`),
      LIST: (c) => {
        sync();
        const lines = [...folders.values()].map((f) => {
          const attrs = ['\\HasNoChildren', ...(f.specialUse ? [f.specialUse] : [])].join(' ');
          return `* LIST (${attrs}) "/" ${quoteLabel(f.name)}\r\n`;
        });
        write(`* LIST (\\HasChildren \\Noselect) "/" "[Gmail]"\r\n${lines.join('')}${c.tag} OK Success\r\n`);
      },
      LSUB: (c) => write(`${c.tag} OK Success\r\n`),
      SELECT: (c, t) => open(c, t, false),
      EXAMINE: (c, t) => open(c, t, true),
      STATUS: (c, t) => {
        sync();
        const f = folders.get(tokenText(t[0]));
        if (!f) return write(`${c.tag} NO [NONEXISTENT] Unknown Mailbox\r\n`);
        write(
          `* STATUS ${quoteLabel(f.name)} (MESSAGES ${f.uids.size} UIDNEXT ${f.uidNext} UIDVALIDITY ${f.uidValidity})\r\n${c.tag} OK Success\r\n`,
        );
      },
      CREATE: (c, t) => {
        const name = tokenText(t[0]);
        if (folders.has(name)) return write(`${c.tag} NO [ALREADYEXISTS] Duplicate folder name\r\n`);
        folder(name);
        write(`${c.tag} OK Success\r\n`);
      },
      'UID SEARCH': (c) => {
        const f = selected!;
        const uidSet = /\bUID (\S+)/i.exec(c.args)?.[1];
        const messageId = /HEADER "?Message-ID"? "?([^"\s]+)"?/i.exec(c.args)?.[1];
        let found = uidSet ? inSet(f, uidSet) : byUid(f);
        if (messageId) found = found.filter((e) => e.m.raw.toString('latin1').includes(messageId));
        write(
          `* SEARCH${found.map((e) => ` ${e.uid}`).join('')}\r\n${c.tag} OK SEARCH completed (Success)\r\n`,
        );
      },
      'UID FETCH': (c) => {
        const f = selected!;
        const set = c.args.split(' ')[0]!;
        const order = byUid(f);
        for (const entry of inSet(f, set)) {
          write(fetchLine(f, order.indexOf(entry) + 1, entry.uid, entry.m, c.args));
        }
        write(`${c.tag} OK Success\r\n`);
      },
      'UID STORE': (c, t) => {
        const f = selected!;
        const operation = tokenText(t[1]).toUpperCase();
        const values = (Array.isArray(t[2]) ? t[2] : [t[2]!]).map(tokenText);
        const order = byUid(f);
        const entries = inSet(f, tokenText(t[0]));
        for (const { uid, m } of entries) {
          for (const value of values) {
            if (operation.startsWith('+X-GM-LABELS')) m.labels.add(value === '\\Inbox' ? '\\Inbox' : value);
            else if (operation.startsWith('-X-GM-LABELS')) m.labels.delete(value);
            else if (value === '\\Deleted') {
              if (operation.startsWith('+')) f.deletedFlags.add(uid);
              else f.deletedFlags.delete(uid);
            } else if (operation.startsWith('+')) m.flags.add(value);
            else m.flags.delete(value);
          }
        }
        const echoes = operation.endsWith('.SILENT')
          ? ''
          : entries
              .map(({ uid, m }) =>
                operation.includes('X-GM-LABELS')
                  ? `* ${order.findIndex((e) => e.uid === uid) + 1} FETCH (X-GM-LABELS (${[...m.labels].map(quoteLabel).join(' ')}) UID ${uid})\r\n`
                  : '',
              )
              .join('');
        sync();
        write(`${echoes}${c.tag} OK Success\r\n`);
      },
      'UID COPY': (c, t) => transfer(c, t, false),
      'UID MOVE': (c, t) => transfer(c, t, true),
      'UID EXPUNGE': (c, t) => {
        const f = selected!;
        const entries = inSet(f, tokenText(t[0])).filter((e) => f.deletedFlags.has(e.uid));
        const answer = expungeAnswer(
          f,
          entries.map((e) => e.uid),
        );
        for (const { m } of entries) removeFrom(m, f, 'expunge');
        sync();
        write(`${answer}${c.tag} OK Success\r\n`);
      },
      CLOSE: (c) => {
        selected = undefined;
        write(`${c.tag} OK Success\r\n`);
      },
      UNSELECT: (c) => {
        selected = undefined;
        write(`${c.tag} OK Success\r\n`);
      },
      LOGOUT: (c) => {
        write(`* BYE LOGOUT Requested\r\n${c.tag} OK 73 good day (Success)\r\n`);
        socket.end();
      },
    };

    const open = (c: ScriptedCommand, t: Token[], examine: boolean) => {
      sync();
      const f = folders.get(tokenText(t[0]));
      if (!f) {
        selected = undefined;
        return write(`${c.tag} NO [NONEXISTENT] Unknown Mailbox: ${tokenText(t[0])} (Failure)\r\n`);
      }
      selected = f;
      readOnly = examine;
      write(
        [
          '* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)',
          '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing \\*)] Flags permitted.',
          `* OK [UIDVALIDITY ${f.uidValidity}] UIDs valid.`,
          `* ${f.uids.size} EXISTS`,
          '* 0 RECENT',
          `* OK [UIDNEXT ${f.uidNext}] Predicted next UID.`,
          `${c.tag} OK [${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${f.name} selected. (Success)`,
          '',
        ].join('\r\n'),
      );
    };

    const transfer = (c: ScriptedCommand, t: Token[], move: boolean) => {
      const source = selected!;
      sync();
      const target = folders.get(tokenText(t[1]));
      if (!target) return write(`${c.tag} NO [TRYCREATE] No folder ${tokenText(t[1])} (Failure)\r\n`);
      const entries = inSet(source, tokenText(t[0]));
      for (const { m } of entries) copyTo(m, target);
      if (move) for (const { m } of entries) if (target !== source) removeFrom(m, source, 'move');
      const answer = move
        ? expungeAnswer(
            source,
            entries.map((e) => e.uid),
          )
        : '';
      sync();
      const targetUids = entries.map(({ m }) => target.uids.get(m.msgId) ?? 0);
      const copyUid = `[COPYUID ${target.uidValidity} ${entries.map((e) => e.uid).join(',')} ${targetUids.join(',')}]`;
      if (entries.length === 0) return write(`${c.tag} OK No messages\r\n`);
      write(
        move ? `* OK ${copyUid}\r\n${answer}${c.tag} OK Success\r\n` : `${c.tag} OK ${copyUid} (Success)\r\n`,
      );
    };

    const dispatch = (line: string) => {
      const parsed = splitCommand(line);
      if (!parsed) return;
      const { tag, name, args } = parsed;
      commands.push(`${name} ${args}`.trim());
      counts.set(name, (counts.get(name) ?? 0) + 1);
      const tokens = parseArgs(args);
      const command: ScriptedCommand = {
        tag,
        name,
        args,
        write,
        end: () => socket.end(),
        count: counts.get(name)!,
        answer: () => {
          const fallback = defaults[name];
          if (fallback) fallback(command, tokens);
          else write(`${tag} BAD Unknown command\r\n`);
        },
      };
      const hook = options.commands?.[name];
      if (hook) hook(command);
      else command.answer();
    };

    write('* OK Gimap ready for requests from 127.0.0.1\r\n');
    let buffer = Buffer.alloc(0);
    let literal = 0;
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length > 0) {
        if (literal > 0) {
          if (buffer.length < literal) return;
          // A literal becomes a quoted string of the line, for the tokenizer.
          pending += JSON.stringify(buffer.subarray(0, literal).toString('latin1'));
          buffer = buffer.subarray(literal);
          literal = 0;
          continue;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const text = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 2);
        const marker = /\{(\d+)(\+?)\}$/.exec(text);
        if (marker) {
          pending += text.slice(0, marker.index);
          literal = Number(marker[1]);
          if (marker[2] !== '+') write('+ go ahead\r\n');
          continue;
        }
        const line = pending + text;
        pending = '';
        dispatch(line);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    commands,
    add: store.add,
    message: store.message,
    folderUids: store.folderUids,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
