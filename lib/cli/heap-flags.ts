/**
 * The V8 heap limit the `postroom` command runs with, in MiB
 * (`--max-old-space-size`). It is written where the command starts: the first
 * line of `bin/postroom.js` and `bin/start.js`, and the npm scripts `postroom`
 * and `start`; `test/integration/cli-heap-limit.test.ts` checks each of them.
 *
 * Why a limit: left alone, V8 sizes the heap from the machine's memory (about
 * 4 GB on a 24 GB machine) and then lets it grow in large steps between full
 * collections. A poller's message buffers that live past a young-generation
 * collection (held while S3 takes them) wait for a full one, and the poll of
 * 10,000 messages through the AWS adapters peaked at 220 MB. Under this limit
 * V8 grows the heap in smaller steps and collects them sooner: 169 MB, with the
 * fetch no slower (issue 2's note has the runs). 1024, not less, leaves room
 * for `postroom run` parsing a 50 MB message with mailparser.
 *
 * To give the command more, start it through node yourself:
 * `node --max-old-space-size=4096 bin/postroom.js …`.
 */
export const CLI_HEAP_LIMIT_MB = 1024;

/** The flag as Node takes it. */
export const CLI_HEAP_FLAG = `--max-old-space-size=${CLI_HEAP_LIMIT_MB}`;
