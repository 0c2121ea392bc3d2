#!/usr/bin/env node
// package.json's "version" is spawning's one version: this writes it into the
// Python package (python/spawning/_version.py), which pyproject.toml reads
// too. npm runs it on `npm version` and `npm pack`;
// test/scripts/version.test.ts fails when the two disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const file = path.join(root, 'python', 'spawning', '_version.py');
const text = `# Written by scripts/sync-version.mjs from package.json; do not edit.\n__version__ = "${version}"\n`;
let current = '';
try {
  current = readFileSync(file, 'utf8');
} catch {
  // first run
}
if (current !== text) writeFileSync(file, text);
