/**
 * The rule language's Gmail words, as zod schemas: the `labels` condition
 * (`labels: { has: Invoices }`, `labels: { lacks: [\Starred, Done] }`) and the
 * `label` / `unlabel` actions. Gmail only: elsewhere a `labels` condition is
 * unknown (the rule does not fire, with a warning) and a label action fails.
 */
import * as z from 'zod';

import { GMAIL_SYSTEM_LABELS as SYSTEM_LABELS } from './gmail-labels.ts';

/** A label: a label name as Gmail shows it (`Finance/Invoices`), or a system label such as `\Starred`. */
export const labelSchema = z
  .string({ error: 'expected a label name' })
  .trim()
  .min(1, 'expected a label name, not an empty one')
  .superRefine((label, ctx) => {
    if (label.startsWith('\\')) {
      if (!SYSTEM_LABELS.some((known) => known.toLowerCase() === label.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown system label ${label} (expected one of ${SYSTEM_LABELS.join(', ')}, or a label name without \\)`,
        });
      }
      return;
    }
    // CR and LF would end the IMAP command line.
    if (/[\p{Cc}]/u.test(label))
      ctx.addIssue({
        code: 'custom',
        message: `a label may not contain control characters (in ${JSON.stringify(label)})`,
      });
  });

export const labelListSchema = z.union(
  [labelSchema, z.array(labelSchema).min(1, 'expected at least one label')],
  { error: 'expected a label or a list of labels' },
);

/** `labels: { has?, lacks? }`, like `flags`: every label of `has` is on the message, none of `lacks`. */
export const labelsTestSchema = z
  .strictObject({
    /** Every one of these labels is on the message. */
    has: labelListSchema.optional(),
    /** None of these labels is on the message. */
    lacks: labelListSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.has === undefined && value.lacks === undefined)
      ctx.addIssue({ code: 'custom', message: 'expected has and/or lacks' });
  });

export type LabelsTest = z.infer<typeof labelsTestSchema>;
