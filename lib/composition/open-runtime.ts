/**
 * The runtime for drivers that serve both worlds (the CLI, the demo, tests,
 * benchmarks): `store.kind: local` gives the embedded stand-ins, `store.kind:
 * aws` the AWS services. Each set is imported only when chosen, so a local run
 * never loads the AWS SDK's clients and an AWS one never opens SQLite. The
 * Lambda handlers call `openAwsRuntime` / `openAwsPollRuntime` (`aws.ts`)
 * directly, keeping the local set out of their bundles.
 */
import type { PostroomConfig, StoreConfig } from '../config/schema.ts';
import type { DriverOptions, Runtime } from './runtime.ts';

export type { Runtime } from './runtime.ts';

export interface OpenRuntimeOptions extends DriverOptions {
  /** Overrides `config.store`. */
  store?: StoreConfig;
}

export async function openRuntime(config: PostroomConfig, options: OpenRuntimeOptions): Promise<Runtime> {
  const store = options.store ?? config.store;
  if (store.kind === 'aws') {
    const { openAwsRuntime } = await import('./aws.ts');
    return openAwsRuntime(config, { ...options, store });
  }
  const { openLocalRuntime } = await import('./local.ts');
  return openLocalRuntime(config, { ...options, store });
}
