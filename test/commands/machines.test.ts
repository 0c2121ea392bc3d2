/** `spawning machines`, run as users run it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/server.js';

describe('spawning machines', () => {
  test('prints every definition as Mermaid or JSON, and rejects an unknown format', async () => {
    const mermaid = await runCli(['machines']);
    assert.equal(mermaid.code, 0);
    for (const name of ['controller', 'child', 'reloader', 'status']) assert.match(mermaid.stdout, new RegExp(`^%% ${name}\\nstateDiagram-v2$`, 'm'));
    const json = await runCli(['machines', '--format=json', 'child']);
    assert.equal(json.code, 0);
    const parsed = JSON.parse(json.stdout) as { name: string; definition: { id: string; states: Record<string, unknown> } }[];
    assert.deepEqual(parsed.map((m) => m.name), ['child']);
    assert.ok('serving' in parsed[0]!.definition.states);
    const bad = await runCli(['machines', '--format=yaml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^spawning: error: --format must be mermaid or json, got 'yaml' \[SPAWNING_ERR_CONFIG\]\n$/);
  });
});
