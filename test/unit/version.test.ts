import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { POSTROOM_VERSION } from '#lib/version.ts';

describe('POSTROOM_VERSION', () => {
  it('is the version package.json gives', () => {
    // Prepare
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    // Act, Assess
    expect(POSTROOM_VERSION).toBe(manifest.version);
  });
});
