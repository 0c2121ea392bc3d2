/**
 * One config pipeline: a flag reaches a child or a Python worker by its row's
 * `to` tag alone, and Python reads only options the controller sends. Together
 * these make a new worker flag a matter of its row and the code that reads it:
 * no literal lists the keys again (the child's config and the worker's options
 * are picked, python/tests take their options from the same table), and a
 * Python read of an option nobody sends fails here, not in production.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { childConfig, snakeCase, workerOptions, type ChildFacts } from '../../src/config/process-config.js';
import { SETTINGS, defaults, type Destination, type Settings } from '../../src/config/settings.js';
import { REPO_ROOT } from '../helpers/repo.js';

const taggedFor = (...to: Destination[]): string[] => SETTINGS.filter((s) => s.to?.some((d) => to.includes(d))).map((s) => s.key);

/** Defaults, except that every tagged setting holds an object of its own, so a value that arrives came from its own row. */
function markedSettings(): { settings: Settings; marks: Map<string, object> } {
  const marks = new Map<string, object>();
  const settings: Record<string, unknown> = { ...defaults() };
  for (const key of taggedFor('child', 'worker')) {
    const mark = { mark: key };
    marks.set(key, mark);
    settings[key] = mark;
  }
  return { settings: settings as Settings, marks };
}

const FACTS: ChildFacts = {
  args: ['app.app'],
  python: '/usr/bin/python3',
  host: '127.0.0.1',
  port: 41234,
  unixPath: null,
  listenFds: 1,
  statsInterval: 500,
  pythonPath: ['/opt/spawning/python'],
  coverageDir: null,
      tls: null,
};

/** Whatever Python code reads from the options: option(options, "key", ...), optional(...), options["key"], options.get("key"). */
function optionsReadByPython(): Map<string, string[]> {
  const dir = path.join(REPO_ROOT, 'python', 'spawning');
  const reads = new Map<string, string[]>();
  const patterns = [/\boption(?:al)?\(\s*\w+,\s*"([A-Za-z_]+)"/g, /\b(?:options|args)\[\s*"([A-Za-z_]+)"\s*\]/g, /\b(?:options|args)\.get\(\s*"([A-Za-z_]+)"/g];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.py'))) {
    const source = readFileSync(path.join(dir, file), 'utf8');
    for (const pattern of patterns) {
      for (const [, key] of source.matchAll(pattern)) reads.set(key!, [...(reads.get(key!) ?? []), file]);
    }
  }
  return reads;
}

describe('the settings table is the one source of what each process is sent', () => {
  test('every row tagged worker is in the worker options, under its snake_case name, with its own value; nothing else is', () => {
    const { settings, marks } = markedSettings();
    const options = workerOptions({ ...settings, args: ['app.app'], coverageDir: '/tmp/cov' }) as Record<string, unknown>;
    const expected = taggedFor('worker');
    assert.ok(expected.includes('maxGreen') && expected.includes('threads'), 'the worker-tagged rows include --threads and --max-green');
    for (const key of expected) assert.equal(options[snakeCase(key)], marks.get(key), `--options-json ${snakeCase(key)}`);
    assert.deepEqual(Object.keys(options).sort(), [...expected.map(snakeCase), 'args', 'coverage_dir'].sort());
    assert.deepEqual([options.args, options.coverage_dir], [['app.app'], '/tmp/cov']);
  });

  test('every row tagged child or worker is in the child config with its own value, unless the controller derives it', () => {
    const { settings, marks } = markedSettings();
    const config = childConfig(settings, FACTS) as unknown as Record<string, unknown>;
    const derived = new Set([...Object.keys(FACTS), 'keepalive', 'accessLog', 'scriptName', 'workers', 'peers']);
    for (const key of taggedFor('child', 'worker')) {
      if (derived.has(key)) assert.equal(config[key], (FACTS as unknown as Record<string, unknown>)[key], `${key}: the derived value`);
      else assert.equal(config[key], marks.get(key), `child config ${key}`);
    }
    const unexplained = Object.keys(config).filter((key) => !derived.has(key) && !marks.has(key));
    assert.deepEqual(unexplained, [], 'child config keys that are neither tagged rows nor derived');
  });

  test('the derived part of the child config', () => {
    const config = childConfig({ ...defaults(), noKeepalive: true, scriptName: '/app', accessLogFile: 'logs/access.log' }, FACTS);
    assert.equal(config.keepalive, false);
    assert.equal(config.scriptName, '/app');
    assert.equal(config.accessLog, path.resolve('logs/access.log'));
    const plain = childConfig(defaults(), FACTS);
    assert.deepEqual([plain.keepalive, plain.scriptName, plain.accessLog], [true, '', '-']);
    assert.equal(childConfig({ ...defaults(), accessLogFile: '/dev/null' }, FACTS).accessLog, '/dev/null');
  });

  test('Python reads only options the controller sends, with no default of its own', () => {
    const sent = new Set(Object.keys(workerOptions({ ...defaults(), args: [], coverageDir: null })));
    const reads = optionsReadByPython();
    assert.ok(reads.has('max_green') && reads.has('threads'), `the scan finds the worker's reads: ${[...reads.keys()].join(', ')}`);
    const unsent = [...reads].filter(([key]) => !sent.has(key)).map(([key, files]) => `${key} (${files.join(', ')})`);
    assert.deepEqual(unsent, [], 'options Python reads but the controller never sends');
    const dir = path.join(REPO_ROOT, 'python', 'spawning');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.py'))) {
      assert.doesNotMatch(readFileSync(path.join(dir, file), 'utf8'), /\b(?:options|args)\.get\(/, `${file}: a second default; use spawning.options.option()`);
    }
  });

  test('every option sent is read by Python, or is one the factory contract hands to config factories', () => {
    // host and port reach Python only as arguments of a config_factory, which may read them (README: "Factories").
    const forFactories = new Set(['host', 'port']);
    const reads = optionsReadByPython();
    const unread = Object.keys(workerOptions({ ...defaults(), args: [], coverageDir: null })).filter((key) => !reads.has(key) && !forFactories.has(key));
    assert.deepEqual(unread, [], 'rows tagged worker that no Python code reads');
  });
});
