/**
 * The Lambda handlers themselves, wired as in AWS (resources from the
 * environment, AWS adapters), against the emulators and a real Dovecot: the
 * poll handler stores and queues, the process handler consumes an SQS event
 * built from what was queued and acts on the server. Twice: from the
 * TypeScript sources in this process, and from the bundles `cdk synth` builds
 * (minified ESM, stubs for unreached dependencies, source maps on), each
 * invocation in a fresh Node process as Lambda runs them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '#lib/config/load.ts';
import { validateConfig } from '#lib/config/validate.ts';
import { validatedConfigFile } from '#lib/config/validated-file.ts';
import { type FunctionBundle, synthesizeFunctionBundles } from '../../infra/function-bundles.ts';
import { textMessage } from '../fixtures/messages.ts';
import {
  appendMessages,
  dovecotInfo,
  freshUser,
  getFlags,
  type TestUser,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { createStateTable } from '../helpers/dynamo-emulator.ts';
import { createBucket, createQueue, emulatorClientConfig } from '../helpers/emulators.ts';
import { useAwsEmulatorEnvironment } from '../helpers/ingest-harness.ts';
import { lambdaContext, sqsRecord } from '../helpers/lambda-events.ts';

/** A config as the handlers take it: validated and marked, like the file cdk synth bundles. */
const lambdaConfig = (config: object): string => JSON.stringify(validatedConfigFile(validateConfig(config)));

function context(remainingMs = 60_000): Context {
  return lambdaContext('postroom-test', remainingMs);
}

interface Handlers {
  poll(event: unknown): Promise<unknown>;
  process(event: unknown): Promise<unknown>;
}

type HandlerSource = { name: string; open(): Promise<Handlers>; close?(): void };

/** The handlers imported from the TypeScript sources, into this process. */
const fromSources: HandlerSource = {
  name: 'from the TypeScript sources',
  async open() {
    const { handler: poll } = await import('../../functions/poll.ts');
    const { handler: process_ } = await import('../../functions/process.ts');
    return {
      poll: (event) => poll(event as never, context()),
      process: (event) => process_(event as never, context()),
    };
  },
};

/** The handlers as deployed: synthesised bundles, each call a fresh `node` with the function's NODE_OPTIONS. */
function fromBundles(): HandlerSource {
  const outdir = mkdtempSync(join(tmpdir(), 'postroom-bundles-'));
  const driver = join(import.meta.dirname, '..', 'helpers', 'lambda-bundle-driver.mjs');
  const invoke = (bundle: FunctionBundle) => async (event: unknown) => {
    const resultFile = join(outdir, `result-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    const nodeOptions = String(bundle.environment.NODE_OPTIONS ?? '')
      .split(/\s+/)
      .filter(Boolean);
    const child = spawn(
      process.execPath,
      [...nodeOptions, driver, bundle.dir, JSON.stringify(event), resultFile],
      {
        cwd: bundle.dir,
        env: {
          ...process.env,
          LAMBDA_TASK_ROOT: bundle.dir,
          AWS_LAMBDA_FUNCTION_NAME: 'postroom-bundle-test',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    let outcome: { ok: boolean; result?: unknown; error?: string; stack?: string };
    try {
      outcome = JSON.parse(readFileSync(resultFile, 'utf8'));
    } catch {
      throw new Error(`the bundled handler exited ${code} without a result: ${stderr.slice(-2000)}`);
    }
    if (!outcome.ok) throw Object.assign(new Error(outcome.error), { stack: outcome.stack });
    return outcome.result;
  };
  return {
    name: 'from the deployed bundles',
    async open() {
      const bundles = synthesizeFunctionBundles({
        // A deployable config (secrets by reference) for the synthesis; the handlers read the
        // test's own config from POSTROOM_CONFIG, which takes precedence over the bundled file.
        config: await loadConfig(join(import.meta.dirname, '..', '..', 'bench', 'lambda-config.yaml')),
        outdir,
      });
      return { poll: invoke(bundles.poll), process: invoke(bundles.process) };
    },
    close: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

describe.each([fromSources, fromBundles()])('Lambda handlers against the emulators, $name', (source) => {
  let handlers: Handlers;
  let user: TestUser;
  let queueUrl: string;
  let sqs: SQSClient;

  beforeAll(async () => {
    useAwsEmulatorEnvironment();
    const { emulators } = inject('servers');
    const name = `lambda-${Date.now().toString(36)}`;
    await createBucket(emulators.s3, name);
    queueUrl = await createQueue(emulators.sqs, name);
    const table = await createStateTable(emulators.dynamodb, name);
    sqs = new SQSClient(emulatorClientConfig(emulators.sqs));
    user = freshUser(dovecotInfo());
    const info = dovecotInfo();
    Object.assign(process.env, {
      POSTROOM_BUCKET: name,
      POSTROOM_QUEUE_URL: queueUrl,
      POSTROOM_TABLE: table,
      LAMBDA_PASSWORD: user.password,
      POWERTOOLS_METRICS_NAMESPACE: 'Postroom',
      POWERTOOLS_DEV: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      // Validated and marked as cdk synth does for the bundled file (an `env` password cannot be deployed).
      POSTROOM_CONFIG: lambdaConfig({
        accounts: [
          {
            id: 'support',
            host: info.host,
            port: info.ports.full.imaps,
            tlsOptions: { ca: info.caFile },
            auth: { user: user.user, password: { env: 'LAMBDA_PASSWORD' } },
            start: 'all',
          },
        ],
        rules: [
          { name: 'alerts', when: { subject: '[alert]' }, then: [{ flag: ['\\Flagged', 'alert'] }] },
          // A body test makes the process function parse the message (mailparser, libmime).
          { name: 'texts', when: { body: { regex: '\\w' } }, then: [{ flag: 'has-text' }] },
        ],
      }),
    });
    handlers = await source.open();
  });

  afterAll(() => source.close?.());

  it('poll stores and queues new mail; process acts on it and reports no failures', async () => {
    const [alertUid, otherUid] = await withSetupClient(dovecotInfo(), user, (c) =>
      appendMessages(c, 'INBOX', [
        textMessage(1, { namespace: user.user, subject: '[alert] disk full' }),
        textMessage(2, { namespace: user.user, subject: 'lunch?' }),
      ]),
    );
    const polled = (await handlers.poll({ account: 'support' })) as { fetched: number };
    expect(polled.fetched).toBe(2);

    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, AttributeNames: ['All'] }),
    );
    const records = (received.Messages ?? []).map(sqsRecord);
    expect(records).toHaveLength(2);
    const event = {
      Records: [...records, { ...records[0]!, messageId: 'garbage', body: '{"not":"a queue message"}' }],
    } as unknown as SQSEvent;

    const response = (await handlers.process(event)) as {
      batchItemFailures: { itemIdentifier: string }[];
    };

    // Only the malformed record is left for redrive; the two real messages are done.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'garbage' }]);
    const flags = await withSetupClient(dovecotInfo(), user, (c) => getFlags(c, 'INBOX'));
    expect(flags.get(alertUid!)).toEqual(expect.arrayContaining(['\\Flagged', 'alert', 'has-text']));
    expect(flags.get(otherUid!)).toContain('has-text');
    expect(flags.get(otherUid!)).not.toContain('\\Flagged');
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );

    // A second invocation finds nothing new: no duplicate in the queue.
    const again = (await handlers.poll({ account: 'support' })) as { fetched: number };
    expect(again.fetched).toBe(0);
  });

  it('poll rejects an account that is not in the bundled config, naming the ones that are', async () => {
    const failure = await handlers.poll({ account: 'nobody' }).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/no account "nobody"/);
    // From the bundle too, the stack points into the TypeScript source, not index.mjs.
    expect((failure as Error).stack).toMatch(/functions\/poll\.ts:\d+:\d+/);
  });
});
