/**
 * Counts every AWS request this process sends, by service and operation, with
 * an SDK middleware: every client (the adapters build their own) gets it on
 * its first `send`. It sits inside the retry middleware, so each attempt
 * counts, as AWS bills it. For tests (an empty poll writes nothing) and the
 * cost and fleet benchmarks.
 */
import { Client } from '@smithy/core/client';

/** `"DynamoDB PutItem"` → how many requests. */
export type RequestCounts = Map<string, number>;

const counts: RequestCounts = new Map();
/** Items by operation (DynamoDB items written and read, EventBridge entries): what is billed, not requests. */
const items: RequestCounts = new Map();
const instrumented = new WeakSet<object>();
let installed = false;

interface Stack {
  add(middleware: unknown, options: Record<string, unknown>): void;
}

/** Starts counting (idempotent). Counting is process-wide: every client, every command. */
export function countAwsRequests(): RequestCounts {
  if (installed) return counts;
  installed = true;
  const send = Client.prototype.send as (...args: unknown[]) => unknown;
  Client.prototype.send = function (this: { middlewareStack: Stack }, ...args: unknown[]) {
    // A document client shares its base client's stack: instrument each stack once.
    if (!instrumented.has(this.middlewareStack)) {
      instrumented.add(this.middlewareStack);
      this.middlewareStack.add(
        (next: (a: unknown) => Promise<unknown>, context: { clientName?: string; commandName?: string }) =>
          (input: unknown) => {
            const key = `${serviceOf(context.clientName)} ${operationOf(context.commandName)}`;
            counts.set(key, (counts.get(key) ?? 0) + 1);
            return next(input);
          },
        { step: 'finalizeRequest', priority: 'low', name: 'postroomRequestCounter' },
      );
      this.middlewareStack.add(
        (next: (a: { input?: unknown }) => Promise<unknown>, context: { commandName?: string }) =>
          (args: { input?: unknown }) => {
            const operation = operationOf(context.commandName);
            items.set(operation, (items.get(operation) ?? 0) + itemCount(operation, args.input));
            return next(args);
          },
        { step: 'initialize', name: 'postroomItemCounter' },
      );
    }
    return send.apply(this, args);
  } as typeof Client.prototype.send;
  return counts;
}

/** A copy of the counts so far, to diff against later. */
export function snapshotCounts(): RequestCounts {
  return new Map(counts);
}

/** Items per operation so far (a BatchWriteItem of 25 puts counts 25), for capacity units. */
export function snapshotItems(): RequestCounts {
  return new Map(items);
}

function itemCount(operation: string, input: unknown): number {
  const request = input as {
    RequestItems?: Record<string, unknown[] | { Keys?: unknown[] }>;
    TransactItems?: unknown[];
    Entries?: unknown[];
  };
  if (operation === 'PutEvents') return request?.Entries?.length ?? 0;
  if (operation === 'BatchWriteItem' || operation === 'BatchGetItem') {
    return Object.values(request?.RequestItems ?? {}).reduce<number>(
      (sum, entry) => sum + (Array.isArray(entry) ? entry.length : (entry.Keys?.length ?? 0)),
      0,
    );
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    return request?.TransactItems?.length ?? 0;
  }
  return 1;
}

/** What was counted since `before`, zero entries left out. */
export function countsSince(before: RequestCounts, now: RequestCounts = counts): RequestCounts {
  const diff: RequestCounts = new Map();
  for (const [key, value] of now) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) diff.set(key, delta);
  }
  return diff;
}

/** DynamoDB operations that write (billed as write request units). */
export const DYNAMODB_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

/** How many DynamoDB write requests `counts` holds. */
export function dynamoWrites(counts: RequestCounts): number {
  let writes = 0;
  for (const [key, value] of counts) {
    const [service, operation] = key.split(' ');
    if (service === 'DynamoDB' && DYNAMODB_WRITES.has(operation!)) writes += value;
  }
  return writes;
}

function serviceOf(clientName = 'Unknown'): string {
  // A document client's requests are DynamoDB's.
  return clientName.replace(/DocumentClient$/, 'Client').replace(/Client$/, '');
}

function operationOf(commandName = 'Unknown'): string {
  return commandName.replace(/Command$/, '');
}
