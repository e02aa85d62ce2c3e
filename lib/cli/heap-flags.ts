/**
 * The V8 heap settings the `postroom` command runs with. They are written
 * where the command starts: the first line of `bin/postroom.js` and
 * `bin/start.js`, and the npm scripts `postroom` and `start`;
 * `test/integration/cli-heap-flags.test.ts` checks each of them.
 *
 * Why: left alone, V8 sizes the heap from the machine's memory and then lets
 * the old generation grow to several times its live size between full
 * collections. A poller's message buffers that outlive a young collection
 * (held while S3 takes them) wait for the next full one, so the peak RSS of a
 * long poll follows the machine, not the work (`npm run bench:ingest` prints
 * it).
 *
 * - `--max-old-space-size=1024` bounds the heap; 1 GiB leaves room for
 *   `postroom run` parsing a large message with mailparser. Alone, it made
 *   things worse elsewhere: V8 then grows the heap by so little that, with a
 *   poller's few live objects, the room left after a full collection is
 *   smaller than the young generation, and V8 starts the next one at once:
 *   the fetch spends its time in back-to-back full collections.
 * - `--heap-growing-percent=150` fixes the growth at 2.5 times the live size,
 *   and `--max-semi-space-size=8` halves the young generation. Together the
 *   fetch runs about as few full collections as without a limit, and the
 *   peak stays bounded.
 *
 * To run the command with other settings, start it through node yourself:
 * `node --max-old-space-size=4096 bin/postroom.js …` (node ignores the first line).
 */
/** The heap limit, in MiB (V8 adds the young generation's few tens of MiB). */
export const CLI_HEAP_LIMIT_MB = 1024;

export const CLI_HEAP_FLAGS = [
  `--max-old-space-size=${CLI_HEAP_LIMIT_MB}`,
  '--max-semi-space-size=8',
  '--heap-growing-percent=150',
] as const;
