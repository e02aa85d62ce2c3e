/**
 * Stands in for `linkify-it` in the Lambda bundles. mailparser builds a
 * linkifier as it loads (compiling its URL patterns against the full list of
 * top-level domains) for `textAsHtml`, which Postroom turns off
 * (`skipTextToHtml`, `skipTextLinks`), so the first message a process
 * function parses skips that work. Should links ever be asked for, this
 * linkifier finds none.
 */
export default function linkifyIt() {
  const linkifier = {
    tlds: () => linkifier,
    add: () => linkifier,
    set: () => linkifier,
    pretest: () => false,
    test: () => false,
    match: () => null,
  };
  return linkifier;
}
