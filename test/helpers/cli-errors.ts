/** The shape every bad input ends with: one `spawning: error: … [CODE]` line, an exit code, no stack or traceback. */
import assert from 'node:assert/strict';
import type { CliResult } from './server.js';

const ERROR_LINE = /^spawning: error: .+ \[SPAWNING_ERR_[A-Z_]+\]$/;

export function assertOneLineError(result: CliResult, exitCode: number, mentions: RegExp): void {
  const context = `exit ${result.code}/${result.signal} after ${result.ms} ms; stderr:\n${result.stderr}`;
  assert.equal(result.code, exitCode, context);
  const errors = result.stderr.split('\n').filter((l) => l.startsWith('spawning: error'));
  assert.equal(errors.length, 1, context);
  assert.match(errors[0]!, ERROR_LINE, context);
  assert.match(errors[0]!, mentions, context);
  assert.doesNotMatch(result.stderr, /^\s+at .+(:\d+:\d+\)?|\(native\))$/m, `JavaScript stack in stderr:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /Traceback \(most recent call last\)/, `Python traceback in stderr:\n${result.stderr}`);
}
