import { relative } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_DEMO_DIR } from '../../sandbox/demo/config.ts';
import {
  type DemoEnvironment,
  type DemoMessageReport,
  type DemoReport,
  runDemoOnce,
  runDemoPass,
  startDemo,
  watchDemo,
} from '../../sandbox/demo/demo.ts';
import { ensureDovecotInstalled } from '../../sandbox/demo/install-dovecot.ts';
import { addCommonOptions, type GlobalOptions, terminalFor } from '../options.ts';
import { sharedRedactor, type Terminal, table } from '../output.ts';
import { onStopSignals } from '../stop-signals.ts';

interface DemoCommandOptions extends GlobalOptions {
  once?: boolean;
  dir: string;
}

/** Ctrl-C must end the demo promptly even if a server hangs. */
const STOP_DEADLINE_MS = 9_000;

export function registerDemo(program: Command): void {
  addCommonOptions(
    program
      .command('demo')
      .summary('see Postroom work: a private Dovecot, a demo mailbox and the example rules')
      .description(
        'Starts a private Dovecot on 127.0.0.1 (needs dovecot-imapd), seeds a demo ' +
          'mailbox with about thirty messages (invoices with PDFs, alerts, ' +
          'newsletters, personal mail, a prize spam, a bounce, an auto-reply) over ' +
          'verified TLS, and runs the real pipeline with the example rules: poll, ' +
          'then process. Prints what happened to each message, then keeps running ' +
          '(IDLE plus a schedule) so you can drop in more mail and watch it ' +
          'processed. Everything lives in --dir, wiped at start: postroom.yaml (the ' +
          'config that ran), events.jsonl, the stored mail and the queue.',
      )
      .option('--once', 'one pass, print the result and exit (0 when every message was processed)')
      .option('--dir <dir>', 'the demo store directory (wiped at start)', DEFAULT_DEMO_DIR)
      .option('--trace', 'print the IMAP dialog as C:/S: lines on stderr (credentials redacted)')
      .addHelpText(
        'after',
        `
Output with --once --json:
  { "processed": N, "failed": N, "actions": { "move": N, ... }, "events": N,
    "messages": [ { "subject", "rules": [...], "actions": [...], "events": [...] } ] }

Examples:
  $ postroom demo
  $ postroom demo --once --json | jq .actions
  $ tail -f .postroom/demo/events.jsonl`,
      ),
    { config: false },
  ).action(async (options: DemoCommandOptions) => {
    const terminal = terminalFor(options);
    // On a fresh Debian machine run as root, install Dovecot rather than stop (see install-dovecot.ts).
    await ensureDovecotInstalled((line) => terminal.say(line), terminal);
    const common = {
      dir: options.dir,
      logger: terminal,
      onSecret: (value: string) => sharedRedactor.add(value),
      ...(options.trace ? { trace: terminal } : {}),
    };

    if (options.once) {
      const { report } = await runDemoOnce(common);
      if (options.json) {
        terminal.json({
          fetched: report.fetched,
          processed: report.processed,
          failed: report.failed,
          actions: report.actions,
          events: report.events,
          messages: report.messages.map(({ subject, rules, actions, events, status }) => ({
            subject,
            rules,
            actions,
            events,
            status,
          })),
        });
      } else {
        printReport(terminal, report.messages);
        printTotals(terminal, report);
      }
      if (report.failed > 0) process.exitCode = 1;
      return;
    }

    if (!options.quiet) terminal.say('Starting a private Dovecot and seeding the demo mailbox…');
    const demo = await startDemo(common);
    let watch: Awaited<ReturnType<typeof watchDemo>> | undefined;
    let stopping: Promise<void> | undefined;
    const stop = (signalName: string) => {
      if (stopping) {
        terminal.say(`${signalName} again: exiting now`);
        process.exit(1);
      }
      terminal.say(`${signalName}: stopping the demo…`);
      const timer = setTimeout(() => {
        terminal.say('could not stop cleanly in time; exiting');
        process.exit(1);
      }, STOP_DEADLINE_MS);
      timer.unref();
      stopping = (async () => {
        await watch?.stop();
        await demo.stop();
        clearTimeout(timer);
      })();
    };
    onStopSignals(stop);

    try {
      const report = await runDemoPass(demo);
      printReport(terminal, report.messages);
      printTotals(terminal, report);
      watch = await watchDemo(demo, {
        logger: terminal,
        onProcessed: (batch) => {
          printReport(terminal, batch.messages);
          terminal.print(`processed ${batch.processed} more, ${batch.events} event(s)`);
        },
        onDropped: (name, kept) =>
          terminal.say(`${name}: appended to INBOX (moved to ${relative(process.cwd(), kept) || kept})`),
      });
      printInstructions(terminal, demo);
    } catch (error) {
      // Ctrl-C during the first pass pulls the server away under it: that is a stop, not a failure.
      if (stopping) {
        await stopping;
        terminal.say('demo stopped');
        return;
      }
      await demo.stop().catch(() => {});
      throw error;
    }
    if (!stopping)
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
    await stopping;
    terminal.say('demo stopped');
  });
}

function printReport(terminal: Terminal, messages: DemoMessageReport[]): void {
  if (messages.length === 0) return;
  terminal.print(
    table(
      ['message', 'rules matched', 'actions taken', 'events emitted'],
      messages.map((m) => [
        truncate(m.subject, 48),
        m.rules.join(', ') || '-',
        m.actions.filter((a) => !a.startsWith('emit ')).join('; ') || '-',
        m.events.join(', ') || (m.status === 'failed' ? `failed: ${m.error ?? ''}` : '-'),
      ]),
    ),
  );
}

function printTotals(terminal: Terminal, report: DemoReport): void {
  const counts = Object.entries(report.actions)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  terminal.print(
    `\nfetched ${report.fetched}, processed ${report.processed}, failed ${report.failed}` +
      `${counts ? ` (${counts})` : ''}, ${report.events} event(s)`,
  );
}

function printInstructions(terminal: Terminal, demo: DemoEnvironment): void {
  const show = (path: string) => {
    const rel = relative(process.cwd(), path);
    return rel.startsWith('..') ? path : rel;
  };
  const port = demo.dovecot.ports.full.imaps;
  terminal.print(
    [
      '',
      `Postroom is watching ${demo.account.auth.user}@${demo.dovecot.host}:${port} (INBOX, IMAP IDLE, and a poll ${demo.account.schedule}).`,
      'Add mail and watch it processed:',
      `  cp ${show(demo.sampleFile)} ${show(demo.dropDir)}/     # any .eml dropped there is APPENDed to INBOX, then moved to drop/done/`,
      `  curl --url imaps://${demo.dovecot.host}:${port}/INBOX --cacert ${demo.dovecot.caFile} --netrc-file ${show(demo.netrcFile)} -T ${show(demo.sampleFile)}`,
      `Events: tail -f ${show(demo.eventsFile)}    Config: ${show(demo.configFile)}`,
      'Ctrl-C stops the demo and its Dovecot.',
    ].join('\n'),
  );
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}
