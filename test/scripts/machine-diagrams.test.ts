import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ARCHITECTURE, withDiagrams } from '../../scripts/machine-diagrams.js';

test('ARCHITECTURE.md carries the diagrams of the current machine definitions', () => {
  const text = readFileSync(ARCHITECTURE, 'utf8');
  assert.equal(text, withDiagrams(text), 'stale diagrams: run `node dist/scripts/machine-diagrams.js --write`');
  for (const state of ['active_running_reloading', 'draining', 'debouncing']) assert.match(text, new RegExp(state));
});
