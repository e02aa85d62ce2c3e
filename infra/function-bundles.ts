/**
 * Synthesises the repo's stack into a directory and says where each function's
 * bundle landed: the deployed artefact, for `bench/lambda.ts` (size, import
 * time) and for the test that runs the bundles themselves against the
 * emulators.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import type { PostroomConfig } from '#lib/config/schema.ts';
import type { FunctionSources } from './mailbox-processor.ts';
import { PostroomStack } from './postroom-stack.ts';

export interface FunctionBundle {
  /** The asset directory: `index.mjs`, its source map, the config and iconv tables. */
  dir: string;
  /** The environment the construct gives the function (resource names, NODE_OPTIONS…). */
  environment: Record<string, unknown>;
}

export interface FunctionBundles {
  poll: FunctionBundle;
  process: FunctionBundle;
}

interface TemplateFunction {
  Type: string;
  Properties: { Code?: { S3Key?: string }; Environment?: { Variables?: Record<string, unknown> } };
}

export function synthesizeFunctionBundles(options: {
  config: PostroomConfig;
  outdir: string;
  /** @default the context in this package's `cdk.json`, so feature flags match `cdk synth` */
  context?: Record<string, unknown>;
  functionSources?: FunctionSources;
}): FunctionBundles {
  const app = new App({ outdir: options.outdir, context: options.context ?? cdkJsonContext() });
  const stackName = 'PostroomBundles';
  new PostroomStack(app, stackName, {
    config: options.config,
    ...(options.functionSources ? { functionSources: options.functionSources } : {}),
  });
  const template = app.synth().getStackByName(stackName).template as {
    Resources: Record<string, TemplateFunction>;
  };
  const found: Partial<FunctionBundles> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const name = /PollFunction/.test(logicalId)
      ? 'poll'
      : /ProcessFunction/.test(logicalId)
        ? 'process'
        : undefined;
    const key = resource.Properties.Code?.S3Key;
    if (!name || !key) continue;
    found[name] = {
      dir: `${options.outdir}/asset.${key.replace(/\.zip$/, '')}`,
      environment: resource.Properties.Environment?.Variables ?? {},
    };
  }
  if (!found.poll || !found.process)
    throw new Error('the synthesised template lacks the poll or process function');
  return found as FunctionBundles;
}

function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8'));
  return cdkJson.context ?? {};
}
