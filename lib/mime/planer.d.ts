/** planer (CommonJS, untyped): the part of its API Postroom uses. */
declare module 'planer' {
  export function extractFromPlain(text: string): string;
}
