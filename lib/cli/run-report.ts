/**
 * What `postroom run` tells its user as it works: per poll what was fetched
 * (and why a first poll with `start: new` fetched nothing), per processed
 * batch the same per-message table as `postroom process` (or one JSON line per
 * message with `--json`), and when an account or an IDLE watch is back after
 * an outage.
 */
import type { AccountConfig } from '../config/schema.ts';
import type { PollResult } from '../core/poll.ts';
import type { ProcessResult } from '../core/process.ts';
import type { MailboxWatch, WatchHandlers } from '../ports.ts';
import type { Rule } from '../rules/schema.ts';
import { MESSAGE_TABLE_HEADERS, messageJson, messageRows } from './message-report.ts';
import { type Terminal, table } from './output.ts';
import { firstPollNote } from './poll-notes.ts';

type WatchMailbox = (
  account: AccountConfig,
  mailbox: string,
  handlers: WatchHandlers,
) => Promise<MailboxWatch>;

interface Outage {
  since: Date;
  failures: number;
}

export class RunReport {
  readonly #terminal: Terminal;
  readonly #rules: readonly Rule[];
  readonly #json: boolean;
  readonly #quiet: boolean;
  /** Accounts whose polls are failing, and watches that were lost, by key. */
  readonly #outages = new Map<string, Outage>();

  constructor(terminal: Terminal, rules: readonly Rule[], options: { json: boolean; quiet: boolean }) {
    this.#terminal = terminal;
    this.#rules = rules;
    this.#json = options.json;
    this.#quiet = options.quiet;
  }

  polled(account: string, result: PollResult): void {
    // A mailbox that failed while the others went on is in the result only: say it, even with -q.
    for (const mailbox of result.mailboxes)
      if (mailbox.error)
        this.#terminal.say(
          `${this.#terminal.paint('red', 'error')}: ${account}/${mailbox.mailbox}: ${mailbox.error.message}`,
        );
    if (this.#quiet) return;
    if (result.fetched > 0) this.#terminal.say(`${account}: fetched ${result.fetched}`);
    for (const mailbox of result.mailboxes) {
      const note = firstPollNote(mailbox);
      if (note) this.#terminal.say(note);
    }
  }

  /** After every poll job: an account whose polls failed and now work again is said to be back. */
  pollOutcome(account: string, outcome: { ok: boolean; error?: unknown }): void {
    const key = `poll ${account}`;
    if (!outcome.ok) {
      this.#down(key);
      return;
    }
    const outage = this.#outages.get(key);
    if (!outage) return;
    this.#outages.delete(key);
    this.#say(
      `${account}: reconnected; polling again after ${outage.failures} failed poll${outage.failures === 1 ? '' : 's'}` +
        ` (down since ${clock(outage.since)})`,
    );
  }

  /** One processed batch: its table, or a JSON line per message. */
  processed(result: ProcessResult): void {
    if (result.items.length === 0) return;
    if (this.#json) {
      for (const item of result.items) this.#terminal.print(JSON.stringify(messageJson(item, this.#rules)));
      return;
    }
    if (this.#quiet) return;
    this.#terminal.print(table(MESSAGE_TABLE_HEADERS, messageRows(result.items, this.#rules)));
  }

  /** Opens a watch through `open`, saying when one that was lost (or never opened) is back. */
  async watch(
    account: AccountConfig,
    mailbox: string,
    handlers: WatchHandlers,
    open: WatchMailbox,
  ): Promise<MailboxWatch> {
    const key = `watch ${account.id}/${mailbox}`;
    let watch: MailboxWatch;
    try {
      watch = await open(account, mailbox, {
        ...handlers,
        onLost: (error) => {
          this.#down(key);
          handlers.onLost(error);
        },
      });
    } catch (error) {
      this.#down(key);
      throw error;
    }
    const outage = this.#outages.get(key);
    if (outage) {
      this.#outages.delete(key);
      this.#say(`${account.id}/${mailbox}: IDLE reconnected (lost at ${clock(outage.since)})`);
    }
    return watch;
  }

  #down(key: string): void {
    const outage = this.#outages.get(key);
    if (outage) outage.failures += 1;
    else this.#outages.set(key, { since: new Date(), failures: 1 });
  }

  #say(text: string): void {
    if (!this.#quiet) this.#terminal.say(text);
  }
}

/** `21:40:03`, local time: when an outage began, for a person watching the terminal. */
function clock(date: Date): string {
  return date.toTimeString().slice(0, 8);
}
