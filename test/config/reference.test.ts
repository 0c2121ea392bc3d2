import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { referenceMarkdown } from '../../src/config/reference.js';

test("README's flag reference is the one generated from the settings table", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(referenceMarkdown()), 'stale flag table: paste `node dist/src/config/reference.js` into README.md');
});
