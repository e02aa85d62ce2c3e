/**
 * The V8 heap settings the `postroom` command runs with. They are written
 * where the command starts: the first line of `bin/postroom.js` and
 * `bin/start.js`, and the npm scripts `postroom` and `start`;
 * `test/integration/cli-heap-flags.test.ts` checks each of them.
 *
 * Why: left alone, V8 sizes the heap from the machine's memory (4 GB on a
 * 24 GB machine) and then lets the old generation grow up to 4× between full
 * collections. A poller's message buffers that outlive a young collection
 * (held while S3 takes them) wait for the next full one, and a poll of 10,000
 * messages through the AWS adapters peaked at 218–220 MB (`npm run
 * bench:ingest`, issue 2's note has the runs).
 *
 * - `--max-old-space-size=1024` bounds the heap; 1 GiB leaves room for
 *   `postroom run` parsing a 50 MB message with mailparser. Alone, it made
 *   things worse elsewhere: V8 then grows the heap by so little that, with a
 *   poller's ~20 MB of live objects, the room left after a full collection is
 *   smaller than the young generation, and V8 starts the next one at once. The
 *   fetch ran 22–38 full collections instead of 1, and GC took 340–410 ms of
 *   its ~2 s instead of ~175 ms.
 * - `--heap-growing-percent=150` fixes the growth at 2.5× the live size, and
 *   `--max-semi-space-size=8` halves the young generation (16 MB semi-spaces by
 *   default). Together: 7–13 full collections and 175–280 ms of GC in the
 *   fetch, about as without a limit, and a 178 MB peak for the AWS poll.
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
