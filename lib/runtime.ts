/**
 * The runtime for drivers that serve both worlds (the CLI, the demo, tests):
 * `store.kind: local` gives the embedded stand-ins (a folder and SQLite under
 * `store.dir`); `store.kind: aws` gives S3, SQS, DynamoDB, EventBridge and
 * Secrets Manager. Lambda handlers use `composeRuntime` with the AWS stores
 * directly.
 */
import { EventBridgeEventSink } from './adapters/aws/eventbridge-event-sink.ts';
import { fetchSecretFromSecretsManager } from './adapters/aws/secrets.ts';
import { openAwsStores } from './adapters/aws/stores.ts';
import { openLocalStores } from './adapters/local/stores.ts';
import { composeRuntime, type Runtime, type RuntimeOptions } from './compose.ts';
import type { PostroomConfig, StoreConfig } from './config/schema.ts';

export type { Runtime, RuntimeOptions, Stores } from './compose.ts';

export interface OpenRuntimeOptions extends Omit<RuntimeOptions, 'stores' | 'fetchSecret'> {
  /** Overrides `config.store`. */
  store?: StoreConfig;
}

export async function openRuntime(config: PostroomConfig, options: OpenRuntimeOptions): Promise<Runtime> {
  const store = options.store ?? config.store;
  if (store.kind === 'aws') {
    const events = store.eventBus ? new EventBridgeEventSink({ eventBusName: store.eventBus }) : undefined;
    return composeRuntime(config, {
      ...options,
      stores: openAwsStores(store, events ? { events } : {}),
      fetchSecret: fetchSecretFromSecretsManager,
    });
  }
  return composeRuntime(config, {
    ...options,
    stores: openLocalStores(store, { maxReceives: config.aws?.processor.maxReceives ?? 5 }),
  });
}
