/**
 * How `postroom process` and `postroom run` say that a message went to the
 * dead letters: one line each, with its reason and where to look next.
 */
import type { DeadLetterNotice } from '../core/drain.ts';
import { printable } from './output.ts';

export function deadLetterLine(notice: DeadLetterNotice): string {
  return (
    `dead-lettered ${notice.account}/${notice.mailbox} UID ${notice.uid}: ${printable(notice.reason)}` +
    ' (postroom dead-letters list)'
  );
}

export function deadLetterLines(notices: readonly DeadLetterNotice[]): string[] {
  return notices.map(deadLetterLine);
}
