/**
 * The built CLI (`node bin/spawning.js …`) on every kind of bad input: one
 * line on stderr in the form `spawning: error: … [SPAWNING_ERR_…]`, exit 2,
 * nothing else (no stack). Also --help, --version and the README reference.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SETTINGS } from '../../src/config/settings.js';
import { FIXTURES_DIR, REPO_ROOT, SPAWNING_BIN, VENV_PYTHON } from '../helpers/repo.js';

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion; waits for 'close', so no output written just before exit is missed. */
async function runCli(args: string[]): Promise<CliResult> {
  const proc = spawn(process.execPath, [SPAWNING_BIN, ...args], { cwd: FIXTURES_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const [code, signal] = (await once(proc, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

const ERROR_LINE = /^spawning: error: [^\n]+ \[SPAWNING_ERR_[A-Z_]+\]$/;

async function expectConfigError(args: string[], mentions: RegExp, code = 'SPAWNING_ERR_CONFIG'): Promise<void> {
  const result = await runCli(args);
  const context = `spawning ${args.join(' ')} → exit ${result.code}/${result.signal}; stderr:\n${result.stderr}`;
  assert.equal(result.code, 2, context);
  const lines = result.stderr.trimEnd().split('\n');
  const errors = lines.filter((l) => l.startsWith('spawning: error'));
  assert.equal(errors.length, 1, context);
  assert.match(errors[0]!, ERROR_LINE, context);
  assert.ok(errors[0]!.endsWith(`[${code}]`), context);
  assert.match(errors[0]!, mentions, context);
  // Only errors that need the socket bound first (--chuid, --pidfile) may follow the "listening" line.
  assert.ok(lines.every((l) => l.startsWith('spawning: ')), context);
  assert.equal(result.stdout, '', context);
}

const APP = 'controller_apps.hello';
const base = ['--host', '127.0.0.1', '--port', '0', '--processes', '1', '--python', VENV_PYTHON];

describe('spawning CLI: bad input is one line and exit 2', { concurrency: 8, timeout: 60_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spawning-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, string[], RegExp, string?]> = [
    ['a number that is not', ['--processes=abc', APP], /invalid value for --processes: expected a whole number, got 'abc'/],
    ['a port out of range', ['--port=70000', APP], /invalid value for --port: expected a number from 0 to 65535, got 70000/],
    ['a misspelt flag, with a suggestion', ['--proceses=2', APP], /unknown option --proceses \(did you mean --processes\?\)/],
    ['an unknown flag', ['--frobnicate', APP], /unknown option --frobnicate \(see spawning --help\)/],
    ['a flag without its value', [APP, '--port'], /option --port needs a value \(PORT\)/],
    ['a value for an on/off flag', ['--no-keepalive=yes', APP], /option --no-keepalive takes no value, got 'yes'/],
    ['no app', ['--port=0'], /no WSGI application given/],
    ['an app that is not a Python name', ['my-module.app'], /'my-module\.app' is not a Python name like module\.app or module:app/],
    ['a bare module', ['justmodule'], /'justmodule' is not a Python name/],
    ['a bad middleware name', [APP, 'mw:a:b'], /'mw:a:b' is not a Python name/],
    ['--bind unix: without a path', ['--bind', 'unix:', APP], /invalid value for --bind: a Unix socket needs a path/],
    ['--bind without a port', ['--bind', '127.0.0.1', APP], /invalid value for --bind: expected unix:PATH or HOST:PORT, got '127\.0\.0\.1'/],
    ['an unknown green library', ['--threads=0', '--green=tornado', APP], /invalid value for --green: expected gevent or eventlet, got 'tornado'/],
    ['no room for green requests', ['--threads=0', '--max-green=0', APP], /invalid value for --max-green: expected a number from 1 to 100000, got 0/],
    ['a size that is not', ['--max-body-size=lots', APP], /invalid value for --max-body-size: expected a size like 512M, 1G or 2048K \(a plain number is bytes\), got 'lots'/],
    ['negative seconds', ['--deadman-timeout=-1', APP], /invalid value for --deadman-timeout: expected a number of seconds/],
    ['an unknown reload mode', ['--reload=prod', APP], /the only reload mode is 'dev'/],
    ['an --inspect that is not a WebSocket URL', ['--inspect=http://x', APP], /^spawning: error: invalid value for --inspect: expected a ws:\/\/ or wss:\/\/ URL, got 'http:\/\/x'/],
    ['an unknown access log atom', ['--access-log-format', '%(h)s %(zz)s', APP], /invalid value for --access-log-format: unknown atom %\(zz\)s/],
    ['a proxy allow-list entry that is not an address', ['--forwarded-allow-ips', '127.0.0.1,proxy.local', APP], /invalid value for --forwarded-allow-ips: 'proxy\.local' is not an IP address/],
    ['a relative --script-name', ['--script-name', 'shop', APP], /invalid value for --script-name: expected a path starting with '\/', got 'shop'/],
    ['--python that does not exist', ['--python', '/nope/python', APP], /--python \/nope\/python: no such interpreter/, 'SPAWNING_ERR_PYTHON_ENV'],
    ['--python that is not executable', ['--python', path.join(REPO_ROOT, 'package.json'), APP], /package\.json: not executable/, 'SPAWNING_ERR_PYTHON_ENV'],
  ];
  for (const [what, args, mentions, code] of cases) {
    it(`rejects ${what}`, async () => {
      // The per-case flags come last so they override the base (--python, --port).
      await expectConfigError([...base, ...args], mentions, code);
    });
  }

  it('rejects --chuid with an unknown user or group', async () => {
    await expectConfigError([...base, '--chuid', 'no_such_user_xyz', APP], /--chuid: no such user 'no_such_user_xyz'/);
    await expectConfigError([...base, '--chuid', 'root:no_such_group_xyz', APP], /--chuid: no such group 'no_such_group_xyz'/);
    await expectConfigError([...base, '--chuid', 'a:b:c', APP], /--chuid: expected USER or USER:GROUP, got 'a:b:c'/);
  });

  it('rejects a --pidfile it cannot write', async () => {
    await expectConfigError([...base, '--pidfile', path.join(dir, 'missing', 'x.pid'), APP], /cannot write --pidfile .*missing\/x\.pid: ENOENT/);
  });

  it('rejects a Unix socket in a directory that does not exist', async () => {
    await expectConfigError(
      ['--processes', '1', '--python', VENV_PYTHON, '--bind', `unix:${path.join(dir, 'nodir', 'a.sock')}`, APP],
      /cannot listen on unix:.*nodir\/a\.sock: directory does not exist/,
      'SPAWNING_ERR_BIND',
    );
  });
});

describe('spawning CLI: help, version and the flag reference', () => {
  it('--help lists every flag from the settings table and exits 0', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^usage: spawning \[options\] module\.app \[middleware \.\.\.\]$/m);
    for (const s of SETTINGS) for (const f of s.flags) assert.ok(result.stdout.includes(f), `--help lacks ${f}`);
    assert.match(result.stdout, /--port PORT +Port to listen on; 0 picks a free port and prints it\. \[default: 8080\]/);
    assert.equal(result.stderr, '');
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(execFileSync('cat', [path.join(REPO_ROOT, 'package.json')], { encoding: 'utf8' })) as { version: string };
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `spawning ${version}\n`);
  });

  it('renders the README reference as a Markdown table with a row per setting', () => {
    const md = execFileSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'config', 'reference.js')], { encoding: 'utf8' });
    const rows = md.trimEnd().split('\n');
    assert.equal(rows[0], '| flag | default | description |');
    assert.equal(rows.length, 2 + SETTINGS.length);
    assert.ok(rows.includes('| `--processes N` | `4` | Number of Python worker processes. |'), md);
  });
});
