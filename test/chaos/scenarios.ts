/**
 * The faults, one scenario each: what is done to a freshly seeded world
 * before the pipeline is let finish cleanly (`trial.ts`) and checked
 * (`checks.ts`). Every wait is bounded; every random choice comes from the
 * trial's seeded generator, so a seed replays a trial's choices.
 */
import { randomBytes } from 'node:crypto';
import { type CliResult, spawnPostroom } from '../helpers/cli.ts';
import type { StreamFault } from '../helpers/fault-proxy.ts';
import type { Finding } from './checks.ts';
import { recreateMailbox, type World } from './world.ts';

/** A seeded generator (mulberry32). */
export interface Rng {
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

/** What a scenario can do during its fault phase. */
export interface TrialContext {
  world: World;
  rng: Rng;
  /** How long one command may run before it counts as hung. */
  commandMs: number;
  /** Runs a command to its end (SIGKILLed and reported hung past `commandMs`). */
  run(command: 'poll' | 'process', timeoutMs?: number): Promise<CliResult | undefined>;
  /**
   * Starts a command and SIGKILLs it (if still running) at a random moment:
   * after a random delay, or once a random number of server bytes went through
   * the proxy (so the kill lands inside the IMAP work, not in node's start-up).
   */
  killSomewhere(command: 'poll' | 'process' | 'run', maxDelayMs: number, maxBytes: number): Promise<void>;
  finding(finding: Finding): void;
  log(line: string): void;
}

export interface Scenario {
  name: string;
  /** Poison mail the world is seeded with. */
  poison?: () => { name: string; raw: Buffer }[];
  /** Ordinary messages (default: the runner's count). */
  messages?: number;
  /** Command deadline for this scenario. @default the runner's */
  commandMs?: number;
  faults(ctx: TrialContext): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Server → client bytes a poll of the seeded world moves, roughly (for picking offsets). */
function pollBytes(world: World): number {
  return world.seeded.reduce((sum, m) => sum + m.raw.length, 0) + 3000;
}

/** Bytes a process run moves (flags, copies, moves, expunges: small). */
const PROCESS_BYTES = 5000;

async function waitFor(ready: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (ready()) return true;
    await sleep(20);
  }
  return ready();
}

/** 1,000 parts in one multipart/mixed: a text part and 999 small attachments. */
export function thousandPartMessage(): Buffer {
  const id = `<thousand.${randomBytes(4).toString('hex')}@poison.example>`;
  const parts = Array.from({ length: 1000 }, (_, i) =>
    i === 0
      ? '--p\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nmany attachments\r\n'
      : `--p\r\nContent-Type: application/octet-stream; name="part-${i}.bin"\r\n` +
        `Content-Disposition: attachment; filename="part-${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
        `${randomBytes(48).toString('base64')}\r\n`,
  ).join('');
  return Buffer.from(
    `From: Poison <p@poison.example>\r\nTo: me@home.example\r\nSubject: a thousand parts\r\nMessage-ID: ${id}\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n${parts}--p--\r\n`,
  );
}

/** Multipart nested 3,000 deep: mailparser rejects it ("Max allowed child nodes exceeded"). */
export function parserThrowsMessage(): Buffer {
  const id = `<deep.${randomBytes(4).toString('hex')}@poison.example>`;
  const nesting = Array.from(
    { length: 3000 },
    (_, i) => `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`,
  ).join('');
  return Buffer.from(
    `From: Poison <p@poison.example>\r\nTo: me@home.example\r\nSubject: deeply nested\r\nMessage-ID: ${id}\r\n${nesting}x\r\n`,
  );
}

let sixty: Buffer | undefined;
/** A 60 MB message: one base64 attachment (built once per process, a new Message-ID each time). */
export function sixtyMegabyteMessage(): Buffer {
  if (!sixty) {
    const line = `${randomBytes(57).toString('base64')}\r\n`;
    sixty = Buffer.from(line.repeat(Math.ceil((60 * 1024 * 1024) / line.length)));
  }
  const id = `<sixty.${randomBytes(4).toString('hex')}@poison.example>`;
  const head = Buffer.from(
    `From: Poison <p@poison.example>\r\nTo: me@home.example\r\nSubject: sixty megabytes\r\nMessage-ID: ${id}\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="s"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n` +
      `--s\r\nContent-Type: application/octet-stream; name="big.bin"\r\nContent-Transfer-Encoding: base64\r\n` +
      `Content-Disposition: attachment; filename="big.bin"\r\n\r\n`,
  );
  return Buffer.concat([head, sixty, Buffer.from('--s--\r\n')]);
}

function offsetFor(ctx: TrialContext, command: 'poll' | 'process'): number {
  return ctx.rng.int(0, command === 'poll' ? pollBytes(ctx.world) : PROCESS_BYTES);
}

/**
 * Picks poll or process (after a clean poll, so process has work), arms the
 * fault `describe` gives for it, and runs the command through it to its end.
 */
async function withStreamFault(
  ctx: TrialContext,
  describe: (command: 'poll' | 'process') => StreamFault,
): Promise<void> {
  const command = ctx.rng.pick(['poll', 'process'] as const);
  if (command === 'process') await ctx.run('poll');
  const fault = describe(command);
  ctx.log(`${command} through ${JSON.stringify(fault)}`);
  ctx.world.proxy.arm(fault);
  try {
    await ctx.run(command);
  } finally {
    ctx.world.proxy.disarm();
  }
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'kill-poll',
    faults: (ctx) => ctx.killSomewhere('poll', 3000, pollBytes(ctx.world)),
  },
  {
    name: 'kill-process',
    async faults(ctx) {
      await ctx.run('poll');
      await ctx.killSomewhere('process', 4000, PROCESS_BYTES);
    },
  },
  {
    name: 'kill-run',
    faults: (ctx) => ctx.killSomewhere('run', 6000, pollBytes(ctx.world) + PROCESS_BYTES),
  },
  {
    name: 'cut-connection',
    faults: (ctx) => withStreamFault(ctx, (command) => ({ kind: 'cut', atByte: offsetFor(ctx, command) })),
  },
  {
    name: 'stall-connection',
    faults: (ctx) =>
      withStreamFault(ctx, (command) => ({
        kind: 'stall',
        atByte: offsetFor(ctx, command),
        // A quarter never resume: the command's own deadline must end it.
        ms: ctx.rng.next() < 0.25 ? Number.POSITIVE_INFINITY : ctx.rng.int(500, 12_000),
      })),
  },
  {
    name: 'slow-connection',
    faults: (ctx) =>
      withStreamFault(ctx, () => ({
        kind: 'slow',
        bytesPerSecond: ctx.rng.int(2000, 40_000),
        chunkBytes: ctx.rng.int(16, 2048),
      })),
  },
  {
    name: 'uidvalidity-between',
    async faults(ctx) {
      await ctx.run('poll');
      const { before, after } = await recreateMailbox(ctx.world);
      ctx.log(`UIDVALIDITY ${before} -> ${after} between poll and process`);
      await ctx.run('process');
    },
  },
  {
    name: 'uidvalidity-mid-poll',
    async faults(ctx) {
      // Slow enough that the poll is still fetching when the mailbox is recreated.
      ctx.world.proxy.arm({ kind: 'slow', bytesPerSecond: ctx.rng.int(4000, 9000), chunkBytes: 512 });
      const target = ctx.rng.int(2000, pollBytes(ctx.world));
      const poll = spawnPostroom(['poll', '--config', ctx.world.config.file, '--json'], {
        env: ctx.world.env,
      });
      const kill = setTimeout(() => poll.signal('SIGKILL'), ctx.commandMs);
      try {
        await waitFor(() => ctx.world.proxy.forwarded() >= target || poll.hasExited(), 15_000);
        const { before, after } = await recreateMailbox(ctx.world);
        ctx.log(`UIDVALIDITY ${before} -> ${after} after ${ctx.world.proxy.forwarded()} bytes of the poll`);
        ctx.world.proxy.disarm();
        const result = await poll.exited;
        if (result.signal === 'SIGKILL')
          ctx.finding({ kind: 'hung', what: `poll ran past its ${ctx.commandMs} ms deadline` });
      } finally {
        clearTimeout(kill);
        ctx.world.proxy.disarm();
      }
      await ctx.run('process');
    },
  },
  {
    name: 'poison-1000-parts',
    poison: () => [{ name: '1000 parts', raw: thousandPartMessage() }],
    async faults(ctx) {
      await ctx.run('poll');
      await ctx.run('process');
    },
  },
  {
    name: 'poison-parser-throws',
    poison: () => [{ name: 'parser throws', raw: parserThrowsMessage() }],
    async faults(ctx) {
      await ctx.run('poll');
      await ctx.run('process');
    },
  },
  {
    name: 'poison-60mb',
    poison: () => [{ name: '60 MB', raw: sixtyMegabyteMessage() }],
    commandMs: 120_000,
    async faults(ctx) {
      await ctx.run('poll');
      await ctx.run('process');
    },
  },
];
