/**
 * The public corpus (real-world and parser-test mail, broken messages
 * included) through the whole pipeline: every .eml APPENDed to a Dovecot
 * mailbox, polled, and processed with the rules of
 * examples/postroom.example.yaml (its webhook pointed at a local receiver).
 * Nothing may throw, fail or be left in the queue.
 *
 * The corpus lives outside the repository: `POSTROOM_CORPUS_DIR`, by default
 * `../shared/corpus/public` from the repository root.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ProcessResult } from '#lib/core/process.ts';
import { appendMessages, createMailbox } from '../helpers/dovecot.ts';
import {
  createProcessHarness,
  type ProcessHarness,
  unparseableMessage,
  WEBHOOK_SECRET,
} from '../helpers/process-harness.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const corpusDir = resolve(root, process.env.POSTROOM_CORPUS_DIR ?? '../shared/corpus/public');
const present = existsSync(corpusDir) && readdirSync(corpusDir).some((f) => f.endsWith('.eml'));

/** The example's rules, with every webhook aimed at `url` (the rest untouched). */
function exampleRules(url: string): unknown[] {
  const example = parse(readFileSync(join(root, 'examples/postroom.example.yaml'), 'utf8')) as {
    rules: { then: Record<string, unknown>[] }[];
  };
  for (const rule of example.rules) {
    for (const action of rule.then) {
      if (action.webhook) action.webhook = { ...(action.webhook as object), url, retries: 0 };
    }
  }
  return example.rules;
}

describe.skipIf(!present)(
  `the public corpus through the whole pipeline (skipped: no .eml files in ${corpusDir}; set POSTROOM_CORPUS_DIR)`,
  () => {
    let harness: ProcessHarness;
    let webhook: WebhookServer;
    let appended: { file: string; uid: number }[];
    let refused: { file: string; reason: string }[];
    let unparseableUid: number;
    let fetched: number;
    let results: ProcessResult[];

    beforeAll(async () => {
      // Prepare: the example's rules scoped to account `work` apply to this account.
      webhook = await startWebhookServer({ secret: WEBHOOK_SECRET });
      harness = await createProcessHarness({ accountId: 'work', rules: exampleRules(webhook.url) });
      const files = readdirSync(corpusDir)
        .filter((f) => f.endsWith('.eml'))
        .sort();
      appended = [];
      refused = [];
      await harness.withClient(async (client) => {
        // The `bulk-not-lists` rule moves to the special-use \Junk folder.
        await createMailbox(client, 'Junk');
        for (const file of files) {
          try {
            const result = await client.append('INBOX', readFileSync(join(corpusDir, file)));
            if (result && typeof result.uid === 'number') appended.push({ file, uid: result.uid });
            else refused.push({ file, reason: 'no APPENDUID' });
          } catch (error) {
            refused.push({ file, reason: (error as Error).message });
          }
        }
        // One message the MIME parser gives up on, for the envelope-only path.
        [unparseableUid] = (await appendMessages(client, 'INBOX', [unparseableMessage()])) as [number];
      });

      // Act
      fetched = (await harness.poll()).fetched;
      results = await harness.drain(50);
    });

    afterAll(async () => {
      await harness?.close();
      await webhook?.close();
    });

    it('gets (nearly) every corpus message onto the server and into the queue', () => {
      expect(refused).toEqual([]);
      expect(appended.length).toBeGreaterThan(100);
      expect(fetched).toBe(appended.length + 1);
    });

    it('processes every message without a failure, an error log or anything left in the queue', () => {
      const items = results.flatMap((r) => r.items);
      expect(items).toHaveLength(appended.length + 1);
      expect(items.filter((i) => i.status !== 'done').map((i) => `${i.uid}: ${i.error?.message}`)).toEqual(
        [],
      );
      expect(harness.logs.filter((l) => l.level === 'error')).toEqual([]);
      expect(harness.queue.stats()).toEqual({ queued: 0, inFlight: 0, deadLetter: 0 });
    });

    it('applies the rules for real: every message is where its actions say', async () => {
      const items = results.flatMap((r) => r.items);
      expect(items.some((i) => i.matched.length > 0)).toBe(true);
      const removed = items.filter((i) =>
        i.actions.some((a) => (a.kind === 'move' || a.kind === 'delete') && a.status === 'done'),
      );
      expect(await harness.uids()).toEqual(
        [...appended.map((a) => a.uid), unparseableUid].filter((uid) => !removed.some((i) => i.uid === uid)),
      );
      const emitted = items.flatMap((i) => i.actions.filter((a) => a.kind === 'emit' && a.status === 'done'));
      expect(harness.events()).toHaveLength(emitted.length);
    });

    it('applies envelope-level rules to an unparseable message and logs a warning for it', () => {
      const warned = results.flatMap((r) => r.items).filter((i) => i.warnings.length > 0);
      const unparseable = warned.find((i) => i.uid === unparseableUid);
      expect(unparseable?.warnings).toContainEqual(expect.stringContaining('message could not be parsed'));
      expect(unparseable?.status).toBe('done');
      const logged = harness.logs.filter((l) => l.message === 'message processed with warnings');
      expect(logged.map((l) => l.attributes?.uid)).toEqual(warned.map((i) => i.uid));
    });
  },
);
