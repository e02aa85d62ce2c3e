import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import type { Logger } from '../../ports.ts';

/** Adapts Powertools' Logger (structured JSON, Lambda context keys) to the logging port. */
export function fromPowertools(logger: PowertoolsLogger): Logger {
  const forward =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, attributes?: Record<string, unknown>) => {
      if (attributes) logger[level](message, attributes as LogAttributes);
      else logger[level](message);
    };
  return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
}
