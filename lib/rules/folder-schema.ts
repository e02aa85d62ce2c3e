/**
 * IMAP flags and folder names as rules write them (flag atoms, logical folder
 * names, special-use targets), with the checks that keep them safe to send.
 */
import * as z from 'zod';

// ---------------------------------------------------------------------------
// Flags and folders

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;

/**
 * A system flag (RFC 3501: `\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`;
 * `\Recent` is server-managed and cannot be set) or a keyword: an IMAP atom, so no
 * spaces, parentheses, braces, quotes, `%`, `*`, `]` or backslashes.
 */
export const flagSchema = z.string().superRefine((flag, ctx) => {
  if (flag.startsWith('\\')) {
    if (!SYSTEM_FLAGS.some((known) => known.toLowerCase() === flag.toLowerCase())) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown system flag ${flag} (expected one of ${SYSTEM_FLAGS.join(', ')}, or a keyword without \\)`,
      });
    }
  } else if (!/^[\x21-\x7e]+$/.test(flag) || /[(){%*"\]\\]/.test(flag)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a keyword of printable ASCII without spaces or any of ( ) { % * " ] \\',
    });
  }
});

export const flagListSchema = z.union(
  [flagSchema, z.array(flagSchema).min(1, 'expected at least one flag')],
  {
    error: 'expected a flag or a list of flags',
  },
);

/** RFC 6154 special-use attributes a target may name instead of a folder. */
export const SPECIAL_USES = [
  '\\All',
  '\\Archive',
  '\\Drafts',
  '\\Flagged',
  '\\Junk',
  '\\Sent',
  '\\Trash',
] as const;
export type SpecialUse = (typeof SPECIAL_USES)[number];

/**
 * Why a logical folder or mailbox name cannot go to the server, or undefined.
 * Control characters (CR and LF would end the IMAP command line), `.` and `..`
 * levels, and LIST wildcards (`*`, `%`: a name must name one folder, not a
 * pattern) are refused.
 */
export function folderNameProblem(name: string): string | undefined {
  const control = [...name].find((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (control !== undefined) {
    const code = control.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    return `a folder name may not contain control characters (U+00${code} in ${JSON.stringify(name)})`;
  }
  if (name.split('/').some((part) => part.trim() === '..' || part.trim() === '.')) {
    return `a folder name may not have a "." or ".." level (in "${name}")`;
  }
  if (/[*%]/.test(name)) {
    return `a folder name may not contain the LIST wildcards * and % (in "${name}")`;
  }
  return undefined;
}

/** A zod refinement reporting {@link folderNameProblem} as an issue at the name's path. */
export function refineFolderName(name: string, ctx: z.RefinementCtx): void {
  const problem = folderNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

/** A logical folder name, `/` between levels (mapped to the server's namespace and delimiter later). */
export const folderNameSchema = z
  .string({ error: 'expected a folder name' })
  .trim()
  .min(1, 'expected a folder name, not an empty one')
  .superRefine((name, ctx) => {
    if (name !== '' && name.split('/').some((part) => part.trim() === '')) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a folder name such as Finance/Invoices (no empty level in "${name}")`,
      });
      return;
    }
    refineFolderName(name, ctx);
  });

/** `Finance/Invoices`, or `{ specialUse: "\\Junk" }` resolved from the server's LIST. */
export const folderTargetSchema = z.union(
  [folderNameSchema, z.strictObject({ specialUse: z.enum(SPECIAL_USES) })],
  { error: 'expected a folder name or { specialUse: \\Junk | \\Trash | \\Archive | ... }' },
);

export type FolderTargetConfig = z.infer<typeof folderTargetSchema>;
