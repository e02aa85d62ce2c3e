/**
 * What the handlers log, as CloudWatch Logs would ingest it: their stdout and stderr
 * (Powertools writes JSON lines there, metrics included as EMF) is counted in
 * bytes and kept out of the benchmark's own output while a handler runs. EMF
 * lines are read for the metrics they publish (name + dimensions: one billed
 * metric each).
 */
export interface StdoutCapture {
  /** Runs `fn` with stdout captured. */
  during<T>(fn: () => Promise<T>): Promise<T>;
  /** Bytes captured so far. */
  bytes(): number;
  /** Distinct metrics (`Name{dim=value,...}`) in the EMF lines captured after `offset` bytes. */
  metricsSince(offset: number): Set<string>;
  stop(): void;
}

export function captureStdout(): StdoutCapture {
  const lines: { at: number; text: string }[] = [];
  let total = 0;
  let active = 0;
  // Lambda sends stderr to the log group too (Powertools warns there).
  const restore = [process.stdout, process.stderr].map((stream) => {
    const write = stream.write.bind(stream);
    stream.write = capturing(write);
    return () => {
      stream.write = write;
    };
  });
  function capturing(write: typeof process.stdout.write): typeof process.stdout.write {
    return ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (active === 0) return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      lines.push({ at: total, text });
      total += Buffer.byteLength(text);
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof process.stdout.write;
  }
  return {
    async during(fn) {
      active++;
      try {
        return await fn();
      } finally {
        active--;
      }
    },
    bytes: () => total,
    metricsSince(offset) {
      const metrics = new Set<string>();
      for (const { at, text } of lines) {
        if (at < offset || !text.includes('"_aws"')) continue;
        for (const line of text.split('\n')) {
          if (!line.includes('"_aws"')) continue;
          const record = JSON.parse(line) as Record<string, unknown> & {
            _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
          };
          for (const directive of record._aws.CloudWatchMetrics) {
            for (const dimensions of directive.Dimensions) {
              const key = dimensions.map((d) => `${d}=${String(record[d])}`).join(',');
              for (const metric of directive.Metrics) metrics.add(`${metric.Name}{${key}}`);
            }
          }
        }
      }
      return metrics;
    },
    stop() {
      for (const undo of restore) undo();
    },
  };
}
