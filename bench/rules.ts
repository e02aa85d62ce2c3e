/**
 * Rule evaluation cost. Run: `node --import tsx bench/rules.ts`
 *
 * 1. Bodies of 1, 2 and 5 MB: parse time, and the time to evaluate body rules
 *    (contains, wildcard, and regexes that would backtrack catastrophically on a
 *    backtracking engine). With RE2 the evaluation time grows linearly with the
 *    body, whatever the pattern.
 * 2. 1,000 rules against one message: evaluation time per message.
 *
 * Prints milliseconds; no assertions (timings on a shared machine are noise for tests).
 */
import { performance } from 'node:perf_hooks';
import { parseMessage, toRuleInput } from '#lib/rules/message.ts';
import { evaluate } from '#lib/rules/planner.ts';
import { rulesSchema } from '#lib/rules/schema.ts';

const scope = { account: 'bench', mailbox: 'INBOX' };

/**
 * Parses rules written as objects, with `do` standing in for `then`: an object
 * literal with a `then` key looks like a thenable to the linter (noThenProperty).
 */
function rules(list: Array<Record<string, unknown>>) {
  return rulesSchema.parse(
    list.map(({ do: actions, ...rest }) => Object.fromEntries([...Object.entries(rest), ['then', actions]])),
  );
}

function message(bodyBytes: number): Buffer {
  const line = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n';
  const body = line.repeat(Math.ceil(bodyBytes / line.length));
  return Buffer.from(
    `From: Bench <bench@acme.example>\r\nTo: me@home.example\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n` +
      `Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`,
  );
}

const bodyRules = rules([
  { name: 'contains', when: { body: 'needle' }, do: [{ emit: 'x' }] },
  { name: 'wildcard', when: { body: { matches: '*a*a*a*a*needle*' } }, do: [{ emit: 'x' }] },
  // (a+)+$ and (a|aa)*b take exponential time on a backtracking engine on a run of a's.
  { name: 'nested', when: { body: { regex: '(a+)+$x' } }, do: [{ emit: 'x' }] },
  { name: 'alternation', when: { body: { regex: '(a|aa)*b' } }, do: [{ emit: 'x' }] },
]);

function time<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const result = fn();
  return [result, performance.now() - start];
}

console.log('body MB | parse ms | evaluate ms (4 body rules) | matched');
for (const mb of [1, 2, 5]) {
  const raw = message(mb * 1024 * 1024);
  const start = performance.now();
  const parsed = await parseMessage(raw);
  const parseMs = performance.now() - start;
  const input = toRuleInput(undefined, parsed);
  const [result, evalMs] = time(() => evaluate(input, bodyRules, scope));
  console.log(`${mb} | ${parseMs.toFixed(0)} | ${evalMs.toFixed(0)} | ${result.matched.join(',') || '-'}`);
}

const manyRules = rules(
  Array.from({ length: 1000 }, (_, i) => ({
    name: `rule-${i}`,
    when:
      i % 4 === 0
        ? { from: { domain: `sender${i}.example` } }
        : i % 4 === 1
          ? { subject: { regex: `^report-${i}\\b` } }
          : i % 4 === 2
            ? { all: [{ subject: { matches: `*${i}*` } }, { size: { over: '1MB' } }] }
            : { header: { name: 'X-Tag', is: `tag-${i}` } },
    do: [{ flag: `seen-${i}` }],
  })),
);
const small = toRuleInput(undefined, await parseMessage(message(4096)));
evaluate(small, manyRules, scope); // compiles the rules once, as the first message of a container would
const rounds = 200;
const [, totalMs] = time(() => {
  for (let i = 0; i < rounds; i++) evaluate(small, manyRules, scope);
});
console.log(`1000 rules: ${(totalMs / rounds).toFixed(2)} ms per message (mean of ${rounds})`);
