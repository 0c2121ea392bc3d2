/** Settings from a TOML file and SPAWNING_* variables under the command line (src/config/layers.ts), driven by the table. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { envName, longName, printConfig, resolveArgs } from '../../src/config/layers.js';
import { SETTINGS, defaults } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spawning-layers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function toml(text: string): string {
  const file = path.join(dir, `c${n++}.toml`);
  writeFileSync(file, text);
  return file;
}

describe('config layers', () => {
  it('command line over environment over file over defaults, each value with its source', () => {
    const file = toml('app = "shop:app"\nprocesses = 3\nthreads = 5\nport = 9000\nmax-memory = "1G"\n');
    const r = resolveArgs(['--config', file, '--processes', '7'], { SPAWNING_THREADS: '6', SPAWNING_PROCESSES: '2' });
    assert.equal(r.settings.processes, 7);
    assert.equal(r.sources.get('processes'), 'command line');
    assert.equal(r.settings.threads, 6);
    assert.equal(r.sources.get('threads'), 'environment SPAWNING_THREADS');
    assert.equal(r.settings.port, 9000);
    assert.equal(r.sources.get('port'), `file ${file}`);
    assert.equal(r.settings.maxMemory, 1024 ** 3);
    assert.equal(r.settings.host, '0.0.0.0');
    assert.equal(r.sources.get('host'), 'default');
    assert.deepEqual(r.args, ['shop:app']);
    // Explicit settings from any layer count as given: a factory's config (a Paste ini) does not override them.
    assert.ok(r.given.has('port') && r.given.has('threads') && !r.given.has('host'));
  });

  it('the file is also named by $SPAWNING_CONFIG; positionals on the command line replace its app', () => {
    const file = toml('app = ["shop:app", "mw.wrap"]\n');
    const r = resolveArgs(['other:app'], { SPAWNING_CONFIG: file });
    assert.deepEqual(r.args, ['other:app']);
    assert.equal(r.configFile, file);
    assert.equal(r.sources.get('config'), 'environment SPAWNING_CONFIG');
    assert.deepEqual(resolveArgs([], { SPAWNING_CONFIG: file }).args, ['shop:app', 'mw.wrap']);
  });

  it('snake_case keys, booleans, arrays for repeatable and comma-list flags', () => {
    const file = toml('no_keepalive = true\nwatch = ["a.py", "b.py"]\nforwarded-allow-ips = ["10.0.0.0/8", "127.0.0.1"]\ntimeout = 2.5\n');
    const r = resolveArgs(['--config', file]);
    assert.equal(r.settings.noKeepalive, true);
    assert.deepEqual(r.settings.watch, ['a.py', 'b.py']);
    assert.deepEqual(r.settings.forwardedAllowIps, ['10.0.0.0/8', '127.0.0.1']);
    assert.equal(r.settings.timeout, 2.5);
    const e = resolveArgs([], { SPAWNING_COVERAGE: 'yes', SPAWNING_WATCH: 'x.py,y.py', SPAWNING_NO_KEEPALIVE: '0' });
    assert.equal(e.settings.coverage, true);
    assert.equal(e.settings.noKeepalive, false);
    assert.deepEqual(e.settings.watch, ['x.py', 'y.py']);
  });

  it('bad input is one error naming the key and where it was', () => {
    const unknown = toml('procesess = 2\n');
    assert.throws(() => resolveArgs(['--config', unknown]), (e: Error) => e instanceof ConfigError && e.message === `unknown setting 'procesess' in ${unknown} (did you mean processes?)`);
    const bad = toml('processes = "many"\n');
    assert.throws(() => resolveArgs(['--config', bad]), { message: `invalid value for processes in ${bad}: expected a whole number, got 'many'` });
    const flag = toml('coverage = "yes"\n');
    assert.throws(() => resolveArgs(['--config', flag]), { message: `invalid value for coverage in ${flag}: expected true or false` });
    const cliOnly = toml('check-config = true\n');
    assert.throws(() => resolveArgs(['--config', cliOnly]), { message: `'check-config' in ${cliOnly}: --check-config is for the command line only` });
    const broken = toml('port = \n');
    assert.throws(() => resolveArgs(['--config', broken]), { message: new RegExp(`^${broken} is not valid TOML \\(line 1, column \\d+\\)`) });
    assert.throws(() => resolveArgs(['--config', path.join(dir, 'missing.toml')]), { message: /^cannot read --config .*missing\.toml: ENOENT$/ });
    assert.throws(() => resolveArgs([], { SPAWNING_PORT: 'http' }), { message: "invalid value for port in $SPAWNING_PORT: expected a whole number, got 'http'" });
    assert.throws(() => resolveArgs([], { SPAWNING_DAEMONIZE: 'maybe' }), { message: /^invalid value for daemonize in \$SPAWNING_DAEMONIZE: expected 1 or 0/ });
  });

  it('every row of the settings table is a file key and a variable, with no list of its own here', () => {
    const rows = SETTINGS.filter((s) => !s.cliOnly && (s.scope ?? 'server') !== 'fleet');
    const sample = defaults() as unknown as Record<string, unknown>;
    for (const s of rows) {
      const value = sample[s.key];
      if (value === null || (Array.isArray(value) && value.length === 0)) continue;
      // The default, written as the flag would take it, round-trips through both layers.
      const raw = Array.isArray(value) ? value.join(',') : String(value);
      const line = typeof value === 'boolean' ? `${longName(s)} = ${value}` : `${longName(s)} = ${JSON.stringify(raw)}`;
      const fromFile = resolveArgs(['--config', toml(`${line}\n`)]);
      assert.equal(fromFile.sources.get(s.key)?.startsWith('file '), true, longName(s));
      const fromEnv = resolveArgs([], { [envName(s)]: typeof value === 'boolean' ? String(value) : raw });
      assert.equal(fromEnv.sources.get(s.key), `environment ${envName(s)}`);
    }
    const printed = printConfig(resolveArgs(['x:app']));
    for (const s of rows) assert.match(printed, new RegExp(`^${longName(s)} = .*# default$`, 'm'));
    assert.match(printed, /^app = \["x:app"\] +# command line$/m);
  });

  it('--print-config hides secrets', () => {
    const printed = printConfig(resolveArgs(['--nats-password', 'hunter2', 'x:app']));
    assert.ok(!printed.includes('hunter2'));
    assert.match(printed, /^nats-password = \(set\) +# command line$/m);
  });
});
