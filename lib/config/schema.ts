/**
 * The one config schema. `postroom validate`, `poll`, `process`, `dry-run`,
 * `run` and the CDK app all read the same file through it. Unknown keys are
 * errors everywhere (they are usually typos), and secrets appear only by
 * reference.
 */
import * as z from 'zod';
import { scheduleProblem } from '../core/schedule.ts';
import { refineFolderName, rulesSchema } from '../rules/schema.ts';
import { detailItemsSchema, textMaxBytesSchema } from '../rules/sender-schema.ts';
import { budgetProblem } from './connection-budget.ts';
import { oauth2Problems } from './oauth2.ts';
import { secretRefSchema } from './secret-ref.ts';

export { secretRefSchema } from './secret-ref.ts';

/**
 * Where the first poll of a mailbox starts: `new` (only mail arriving from now
 * on), `all`, or an ISO date (mail with an internal date on or after it).
 */
export const startSchema = z.union(
  [z.literal('new'), z.literal('all'), z.iso.date(), z.iso.datetime({ offset: true })],
  {
    error: 'expected new, all or an ISO date such as 2026-01-31',
  },
);

const SCHEDULE =
  /^(rate\(\s*\d+\s+(second|seconds|minute|minutes|hour|hours|day|days)\s*\)|cron\(\S+( \S+){5}\))$/;

/**
 * An AWS schedule expression: `rate(5 minutes)` or `cron(...)` (six fields); locally also
 * `rate(10 seconds)`. At most once a second; cron fields are checked with the parser `run` uses.
 */
export const scheduleSchema = z
  .string()
  .regex(SCHEDULE, 'expected a schedule expression such as rate(5 minutes) or cron(0/10 * * * ? *)')
  .superRefine((expression, ctx) => {
    // One problem per expression: the shape first, then what `run` would make of it.
    const problem = SCHEDULE.test(expression) ? scheduleProblem(expression) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A logical mailbox name: no control characters, `..` levels or LIST wildcards (`*`, `%`). */
const mailboxNameSchema = z.string().trim().min(1, 'expected a mailbox name').superRefine(refineFolderName);

export const mailboxEntrySchema = z.union(
  [
    mailboxNameSchema,
    z.strictObject({
      name: mailboxNameSchema,
      start: startSchema.optional(),
      idle: z.boolean().optional(),
      /**
       * Also emit `message.flags-changed` and `message.expunged` events for mail
       * already delivered (needs CONDSTORE). @default false
       */
      changes: z.boolean().optional(),
    }),
  ],
  { error: 'expected a mailbox name or { name, start?, idle?, changes? }' },
);

/**
 * Bounds on what one IMAP server may cost, whatever it sends: no response is
 * trusted to be small or prompt.
 */
export const imapLimitsSchema = z.strictObject({
  /** Longest response line, and largest literal that is not a message body (an ID or LIST answer). @default 1 MiB */
  maxLineBytes: z
    .number()
    .int()
    .min(4 * 1024)
    .max(256 * 1024 * 1024)
    .optional(),
  /** How much a message body may exceed the RFC822.SIZE the server announced for it. @default 64 KiB */
  bodySlackBytes: z
    .number()
    .int()
    .min(0)
    .max(64 * 1024 * 1024)
    .optional(),
  /** A command the server leaves unanswered, with no byte at all, this long has failed. @default 30 */
  stallSeconds: z.number().min(0.1).max(600).optional(),
  /**
   * The longest one session may last: an account's poll, a process batch's
   * session. In Lambda the function's remaining time lowers it. @default 900
   */
  sessionSeconds: z.number().min(1).max(86_400).optional(),
});

/** The values of `accounts[].provider` (what `lib/imap/provider.ts` resolves). */
export const PROVIDER_SETTINGS = ['auto', 'gmail', 'microsoft', 'generic'] as const;
export type ProviderSetting = (typeof PROVIDER_SETTINGS)[number];

/** `tlsOptions.ca`: a path, the PEM content, or a secret reference holding it. */
export const caSchema = z.union(
  [
    z.string().min(1),
    z.strictObject({
      pem: z.string().includes('-----BEGIN CERTIFICATE-----', { error: 'expected PEM certificates' }),
    }),
    secretRefSchema,
  ],
  { error: 'expected a PEM file path, { pem: CERTIFICATES } or { secret: NAME-OR-ARN }' },
);

export const accountSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9-]+$/, 'expected lower-case letters, digits and dashes ([a-z0-9-]+)'),
    host: z.string().min(1, 'expected a host name'),
    /** @default 993 with `tls: true`, 143 otherwise */
    port: z.number({ error: 'expected a number' }).int().min(1).max(65535).optional(),
    /** `true` (implicit TLS, the default), `starttls` (upgrade, refused if not offered) or `false` (plaintext). */
    tls: z
      .union([z.boolean(), z.literal('starttls')], { error: 'expected true, false or starttls' })
      .default(true),
    tlsOptions: z
      .strictObject({
        /**
         * The CA that signed a private server's certificate: a PEM file's path, the PEM itself
         * (`{ pem }`), or a reference to it (`{ secret }`, read at connect time). `cdk synth`
         * bundles a path's content, so a deployed function reads no file.
         */
        ca: caSchema.optional(),
        /** Server name to verify when it differs from `host`. */
        servername: z.string().min(1).optional(),
        /** Turning verification off is possible, and only ever because the config says so. @default true */
        rejectUnauthorized: z.boolean().default(true),
      })
      .optional(),
    auth: z
      .strictObject({
        user: z.string().min(1, 'expected a user name'),
        /** The password, by reference: an environment variable (local) or a Secrets Manager secret (AWS). Required with `login` and `plain`, not used with the OAuth2 methods. */
        password: secretRefSchema.optional(),
        /** @default login (LOGIN, or AUTHENTICATE PLAIN when LOGIN is disabled) */
        method: z.enum(['login', 'plain', 'xoauth2', 'oauthbearer']).default('login'),
        /** Where the access token comes from, with `method: xoauth2` or `oauthbearer` (see "OAuth2: Google and Microsoft 365"). */
        oauth2: z
          .strictObject({
            /** Presets for the token endpoint and scope: `google`, `microsoft` (needs `tenant`) or `custom` (needs `tokenUrl`). */
            provider: z.enum(['google', 'microsoft', 'custom']),
            /** `refresh_token` (a user's consent), `client_credentials` (Microsoft app-only) or `jwt_bearer` (Google service account with domain-wide delegation). @default refresh_token */
            grant: z.enum(['refresh_token', 'client_credentials', 'jwt_bearer']).optional(),
            /** The app registration's client id (not needed with `jwt_bearer`: the key names its client). */
            clientId: z.string().min(1, 'expected a client id').optional(),
            /** The client secret, by reference (`client_credentials`; `refresh_token` with a confidential client). */
            clientSecret: secretRefSchema.optional(),
            /**
             * The refresh token, by reference (`refresh_token`); a rotated one is kept in the state store or
             * written back to its secret. Locally it may be left out: `postroom oauth login` keeps the token in
             * the state store. `postroom oauth login` writes a `{ secret }` one with PutSecretValue.
             */
            refreshToken: secretRefSchema.optional(),
            /** Microsoft: the directory (tenant) id or domain, e.g. `contoso.onmicrosoft.com`. */
            tenant: z
              .string()
              .regex(/^[A-Za-z0-9.-]+$/, 'expected a tenant id or domain such as contoso.onmicrosoft.com')
              .optional(),
            /** The service account's JSON key, by reference (`jwt_bearer`). */
            serviceAccountKey: secretRefSchema.optional(),
            /** The token endpoint; overrides the provider's. */
            tokenUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
            /** The authorization endpoint `postroom oauth login` opens; overrides the provider's (needed with `custom`). */
            authorizeUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
            /** Space-separated scopes; overrides the provider's. */
            scope: z.string().min(1).optional(),
          })
          .optional(),
      })
      .superRefine((auth, ctx) => {
        for (const problem of oauth2Problems(auth)) ctx.addIssue({ code: 'custom', ...problem });
      }),
    /**
     * Server quirks: `gmail` (labels, X-GM-MSGID, `delete` to Trash), `microsoft`
     * (throttling retried), `generic`; `auto`: Gmail if the server has X-GM-EXT-1
     * or is imap.gmail.com, Microsoft on outlook.office365.com. @default auto
     */
    provider: z
      .enum(PROVIDER_SETTINGS, { error: `expected one of ${PROVIDER_SETTINGS.join(', ')}` })
      .optional(),
    /** @default [INBOX] */
    mailboxes: z.array(mailboxEntrySchema).min(1, 'expected at least one mailbox').default(['INBOX']),
    /** @default new */
    start: startSchema.default('new'),
    /** @default rate(5 minutes) */
    schedule: scheduleSchema.default('rate(5 minutes)'),
    /** Use IMAP IDLE in `postroom run` for this account's mailboxes. @default false */
    idle: z.boolean().default(false),
    /**
     * The most IMAP sessions Postroom keeps open at once for this account's
     * host and user, across polls, process batches and IDLE watches, and across
     * processes and Lambdas (see "Connection budget"). @default 10 for Gmail, 8
     * for Microsoft 365, 5 for any other server
     */
    maxConnections: z.number().int().min(1).max(100).optional(),
    /**
     * What this account's server may cost: bytes it may send at once and time
     * it may take. Each key defaults on its own (`imapLimits` applies them).
     */
    limits: imapLimitsSchema.optional(),
    /**
     * The authserv-id(s) of this account's receiving server (e.g. `mx.google.com`):
     * only Authentication-Results headers it added count for `auth` conditions and events.
     */
    authservId: z
      .union([z.string().trim().min(1), z.array(z.string().trim().min(1)).min(1)], {
        error: 'expected an authserv-id such as mx.example.com, or a list of them',
      })
      .optional(),
    /** Check DKIM, SPF (from the topmost Received header's IP), DMARC and ARC itself, with DNS. @default false */
    verifyAuth: z.boolean().optional(),
  })
  .transform((account) => ({ ...account, port: account.port ?? (account.tls === true ? 993 : 143) }))
  .superRefine((account, ctx) => {
    const problem = budgetProblem(account);
    if (problem) ctx.addIssue({ code: 'custom', path: ['maxConnections'], message: problem });
  });

export const localStoreSchema = z.strictObject({
  kind: z.literal('local'),
  /** Blobs at `<dir>/<blob key>`, queue/checkpoints/idempotency in `<dir>/postroom.db`. @default .postroom */
  dir: z.string().min(1).default('.postroom'),
});

export const awsStoreSchema = z.strictObject({
  kind: z.literal('aws'),
  bucket: z.string().min(3, 'expected an S3 bucket name'),
  queueUrl: z.url({ error: 'expected the SQS queue URL' }),
  table: z.string().min(3, 'expected a DynamoDB table name'),
  eventBus: z.string().min(1).optional(),
  region: z.string().min(1).optional(),
});

export const storeSchema = z.discriminatedUnion('kind', [localStoreSchema, awsStoreSchema], {
  error: 'expected kind: local or kind: aws',
});

/** Tuning for the poller; the defaults suit a Lambda with 512 MB. */
export const ingestSchema = z.strictObject({
  /** Messages per batch (each batch: blobs stored, queued, then checkpointed). @default 500 */
  batchMessages: z.number().int().min(1).max(10_000).default(500),
  /** Bytes per batch, by RFC822.SIZE. @default 32 MiB */
  batchBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .default(32 * 1024 * 1024),
  /** Messages larger than this are streamed one at a time instead of fetched many per command. @default 4 MiB */
  largeMessageBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .default(4 * 1024 * 1024),
  /** Blob puts in flight at once. @default 16 */
  concurrency: z.number().int().min(1).max(256).default(16),
});

/** Tuning for the local processor (`postroom process`, `run`); in AWS see `aws.processor`. */
export const processSchema = z.strictObject({
  /**
   * Queued messages taken per batch: one IMAP command per (mailbox, action,
   * target) covers the whole batch, and its records and acks are one commit
   * each. `postroom process --batch-size` overrides it. @default 500
   */
  batchMessages: z.number().int().min(1).max(10_000).default(500),
});

/** What every `emit` event carries beyond the queue message (an `emit: { detail }` replaces it). */
export const eventsSchema = z.strictObject({
  /** Any of text, reply, attachments, headers, thread, recipient, auth, spam, classification. @default [] */
  detail: detailItemsSchema.default([]),
  /** The cap on `text` and `reply`, in bytes of UTF-8. @default 32768 */
  textMaxBytes: textMaxBytesSchema.default(32 * 1024),
});

/** Deployment settings read by the CDK app (`infra/`); ignored on one machine. */
export const awsDeploySchema = z.strictObject({
  /** Expire raw messages (and saved attachments) after this many days; kept forever when unset. */
  rawMailExpireDays: z.number().int().min(1).optional(),
  /** Keep every version of stored objects. @default false */
  bucketVersioning: z.boolean().default(false),
  poller: z
    .strictObject({
      /** @default 300 */
      timeoutSeconds: z.number().int().min(10).max(900).default(300),
      /** @default 512 */
      memoryMb: z.number().int().min(128).max(10_240).default(512),
      /**
       * Accounts one poll invocation serves (one schedule per group of accounts
       * that share a schedule expression). Unset: one account per invocation
       * while there are at most `concurrency` accounts; beyond that, groups of
       * at most 8 × `concurrency`, as even as possible.
       */
      accountsPerInvocation: z.number().int().min(1).max(1000).optional(),
      /** Accounts one poll invocation polls at once, each on its own IMAP session. @default 16 */
      concurrency: z.number().int().min(1).max(256).default(16),
    })
    .default({ timeoutSeconds: 300, memoryMb: 512, concurrency: 16 }),
  processor: z
    .strictObject({
      /** SQS messages per invocation. @default 10 */
      batchSize: z.number().int().min(1).max(10_000).default(10),
      /** Seconds to gather a batch. @default 0 */
      batchingWindowSeconds: z.number().int().min(0).max(300).default(0),
      /** At most this many concurrent processors, so the IMAP server is not flooded. @default 2 */
      maxConcurrency: z.number().int().min(2).max(1000).default(2),
      /** Receives before a message goes to the dead-letter queue. @default 5 */
      maxReceives: z.number().int().min(1).max(1000).default(5),
      /** @default 60 */
      timeoutSeconds: z.number().int().min(10).max(900).default(60),
      /** @default 512 */
      memoryMb: z.number().int().min(128).max(10_240).default(512),
    })
    .default({
      batchSize: 10,
      batchingWindowSeconds: 0,
      maxConcurrency: 2,
      maxReceives: 5,
      timeoutSeconds: 60,
      memoryMb: 512,
    }),
  /** Days to keep idempotency records. @default 14 */
  idempotencyDays: z.number().int().min(1).max(365).default(14),
  /** @default 30 */
  logRetentionDays: z.number().int().min(1).default(30),
});

// The whole config. Only the CLI and the CDK app build it: the Lambda handlers
// read the copy `cdk synth` validated (`validated-file.ts`), so their bundles
// leave this module out.
export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    accounts: z.array(accountSchema).default([]),
    store: storeSchema.default({ kind: 'local', dir: '.postroom' }),
    ingest: ingestSchema.default({
      batchMessages: 500,
      batchBytes: 32 * 1024 * 1024,
      largeMessageBytes: 4 * 1024 * 1024,
      concurrency: 16,
    }),
    process: processSchema.default({ batchMessages: 500 }),
    rules: rulesSchema.default([]),
    events: eventsSchema.optional(),
    aws: awsDeploySchema.optional(),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.accounts.forEach((account, index) => {
      const first = seen.get(account.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['accounts', index, 'id'],
          message: `duplicate account id "${account.id}" (also accounts[${first}])`,
        });
      } else {
        seen.set(account.id, index);
      }
    });
  });

export type SecretRef = z.infer<typeof secretRefSchema>;
export type AccountConfig = z.infer<typeof accountSchema>;
export type AuthConfig = AccountConfig['auth'];
export type OAuth2Config = NonNullable<AuthConfig['oauth2']>;
export type ImapLimits = z.infer<typeof imapLimitsSchema>;
export type MailboxEntry = z.infer<typeof mailboxEntrySchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type AwsDeployConfig = z.infer<typeof awsDeploySchema>;
export type IngestConfig = z.infer<typeof ingestSchema>;
export type ProcessConfig = z.infer<typeof processSchema>;
export type EventsConfig = z.infer<typeof eventsSchema>;
export type PostroomConfig = z.infer<typeof configSchema>;
export type StartPolicy = z.infer<typeof startSchema>;
