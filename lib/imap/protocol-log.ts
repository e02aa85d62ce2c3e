/**
 * What the IMAP dialog may show: trace lines with every credential replaced,
 * and the logger adapter that hands ImapFlow's protocol entries to the trace
 * and the rest to Postroom's logger.
 */
import type { ImapFlowOptions } from 'imapflow';
import type { Logger } from '../ports.ts';
import { oneLine } from './errors.ts';

/**
 * Replaces credentials in a trace line: the arguments of LOGIN and AUTHENTICATE
 * (RFC 3501 6.2.2/6.2.3), and the password or token wherever else it might
 * appear, as itself or inside base64: a SASL PLAIN response (RFC 4616,
 * `authzid NUL user NUL password`), an XOAUTH2 or OAUTHBEARER one (RFC 7628,
 * `...auth=Bearer TOKEN^A^A`, whose framing also carries host and port).
 */
export function redactor(user: string, secret: string): (line: string) => string {
  const secrets = [secret];
  if (secret !== '') {
    for (const authzid of ['', user])
      secrets.push(Buffer.from(`${authzid}\0${user}\0${secret}`).toString('base64'));
    secrets.push(Buffer.from(`user=${user}\x01auth=Bearer ${secret}\x01\x01`).toString('base64'));
  }
  const usable = secrets.filter((value) => value.length >= 1).sort((a, b) => b.length - a.length);
  return (line: string) => {
    let out = line.replace(/^(C: \S+ LOGIN )(\S+|"(?:[^"\\]|\\.)*") .*$/i, '$1$2 ***');
    out = out.replace(/^(C: \S+ AUTHENTICATE \S+) .*$/i, '$1 ***');
    for (const value of usable) if (out.includes(value)) out = out.split(value).join('***');
    // Any other base64 run that decodes to something holding the secret (a SASL response sent on its own line).
    if (secret.length >= 8) {
      out = out.replace(/[A-Za-z0-9+/]{16,}={0,2}/g, (run) =>
        Buffer.from(run, 'base64').toString('latin1').includes(secret) ? '***' : run,
      );
    }
    return out;
  };
}

interface FlowLogEntry {
  msg?: unknown;
  src?: unknown;
  err?: { message?: unknown; code?: unknown };
}

/** The logger handed to ImapFlow: protocol lines to `trace`, the rest to `logger`. */
export function flowLogger(
  trace: ((line: string) => void) | undefined,
  logger: Logger | undefined,
  redact: (line: string) => string,
): NonNullable<ImapFlowOptions['logger']> {
  const protocol = (entry: FlowLogEntry) => {
    if (!trace || (entry.src !== 'c' && entry.src !== 's') || typeof entry.msg !== 'string') return false;
    // ImapFlow's own raw-socket entries (logRaw) are off; these are parsed, masked lines.
    trace(`${entry.src === 'c' ? 'C' : 'S'}: ${oneLine(entry.msg, 2000)}`);
    return true;
  };
  const describe = (entry: FlowLogEntry) => {
    const message = typeof entry.msg === 'string' ? entry.msg : 'imapflow';
    const error = entry.err && typeof entry.err.message === 'string' ? `: ${entry.err.message}` : '';
    return redact(oneLine(`imap: ${message}${error}`));
  };
  return {
    // Building a protocol log line costs a second compile of every command and
    // response: only ask for them when someone reads them.
    isLevelEnabled: (level: string) => (level === 'trace' || level === 'debug' ? trace !== undefined : true),
    trace: (entry: FlowLogEntry) => {
      protocol(entry);
    },
    debug: (entry: FlowLogEntry) => {
      if (!protocol(entry) && entry.src === undefined) logger?.debug(describe(entry));
    },
    info: (entry: FlowLogEntry) => {
      if (!protocol(entry)) logger?.debug(describe(entry));
    },
    warn: (entry: FlowLogEntry) => {
      if (!protocol(entry)) logger?.warn(describe(entry));
    },
    error: (entry: FlowLogEntry) => {
      // Failures also reach the caller as ImapErrors; here they are context only.
      if (!protocol(entry)) logger?.warn(describe(entry));
    },
  } as NonNullable<ImapFlowOptions['logger']>;
}
