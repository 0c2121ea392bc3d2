import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helpText, parseArgs } from '../../src/config/parse-args.js';
import { referenceMarkdown } from '../../src/config/reference.js';
import { SETTINGS } from '../../src/config/settings.js';
import { listenAddress, validateApp } from '../../src/config/validate.js';
import { ConfigError } from '../../src/errors.js';

describe('settings table and parser', () => {
  it("has the seed's defaults", () => {
    const { settings, args } = parseArgs(['my_module.my_app']);
    assert.deepEqual(args, ['my_module.my_app']);
    assert.equal(settings.port, 8080);
    assert.equal(settings.host, '0.0.0.0');
    assert.equal(settings.processes, 4);
    assert.equal(settings.threads, 4);
    assert.equal(settings.factory, 'spawning.wsgi_factory.config_factory');
    assert.equal(settings.accessLogFile, '-');
    assert.equal(settings.deadmanTimeout, 10);
    assert.equal(settings.statusHost, '127.0.0.1');
  });

  it('accepts --flag=value, --flag value, -lFILE and -l FILE, and middleware positionals', () => {
    const { settings, args } = parseArgs(['--processes=2', '--threads', '8', '-l', 'a.log', '--port=0', 'm.app', 'mw.one', 'mw.two']);
    assert.deepEqual([settings.processes, settings.threads, settings.accessLogFile, settings.port], [2, 8, 'a.log', 0]);
    assert.deepEqual(args, ['m.app', 'mw.one', 'mw.two']);
    assert.equal(parseArgs(['-lx.log', 'm.app']).settings.accessLogFile, 'x.log');
    assert.equal(parseArgs(['--max-body-size=10M', 'm.app']).settings.maxBodySize, 10 * 1024 * 1024);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--processes=abc', 'm.app'], /invalid value for --processes: expected a whole number, got 'abc'/],
    [['--port=70000', 'm.app'], /--port: expected a number from 0 to 65535, got 70000/],
    [['--proceses=2', 'm.app'], /unknown option --proceses \(did you mean --processes\?\)/],
    [['--frobnicate', 'm.app'], /unknown option --frobnicate \(see spawning --help\)/],
    [['m.app', '--port'], /option --port needs a value \(PORT\)/],
    [['--no-keepalive=yes', 'm.app'], /option --no-keepalive takes no value/],
    [['--bind', 'unix:', 'm.app'], /a Unix socket needs a path/],
    [['--green=twisted', 'm.app'], /expected gevent or eventlet/],
    [['--timeout=soon', 'm.app'], /invalid value for --timeout: expected a number of seconds/],
    [['--max-body-size=lots', 'm.app'], /expected a size like 512M, 1G or 2048K/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects ${argv.join(' ')} with one clear line`, () => {
      assert.throws(() => parseArgs(argv), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, message);
        assert.equal(err.exitCode, 2);
        assert.ok(!err.format().includes('\n'));
        return true;
      });
    });
  }

  it('validates app names for the default factory only', () => {
    assert.throws(() => validateApp(parseArgs([])), /no WSGI application given/);
    assert.throws(() => validateApp(parseArgs(['not a name'])), /is not a Python name/);
    assert.throws(() => validateApp(parseArgs(['justmodule'])), /is not a Python name/);
    validateApp(parseArgs(['pkg.mod:app', 'mw.wrap']));
    validateApp(parseArgs(['--factory=spawning.paste_factory.config_factory', 'development.ini']));
    // Other factories check their own arguments (in the config probe), none included.
    validateApp(parseArgs(['--factory=spawning.paste_factory.config_factory']));
  });

  it('rejects a reload mode other than dev', () => {
    assert.throws(() => parseArgs(['--reload=prod', 'm.app']), /the only reload mode is 'dev'/);
  });

  it('keeps fleet-command flags and server flags apart', () => {
    assert.throws(() => parseArgs(['--batch=2', 'm.app']), /option --batch applies to spawning fleet only/);
    assert.throws(() => parseArgs(['--threads=2'], 'fleet'), /option --threads applies to the server, not to spawning fleet/);
    const { settings } = parseArgs(['--nats', 'nats://a:4222,tls://b:4222', '--fleet', 'shop', '--batch', '2'], 'fleet');
    assert.deepEqual([settings.nats, settings.fleet, settings.batch], [['nats://a:4222', 'tls://b:4222'], 'shop', 2]);
  });

  it('resolves --bind', () => {
    assert.deepEqual(listenAddress(parseArgs(['--bind', 'unix:/tmp/x.sock', 'm.app'])), { kind: 'unix', host: 'localhost', port: 0, path: '/tmp/x.sock' });
    assert.deepEqual(listenAddress(parseArgs(['--bind', '[::1]:9000', 'm.app'])), { kind: 'tcp', host: '::1', port: 9000, path: null });
  });

  it('generates --help and the README reference from the same table', () => {
    const help = helpText('9.9.9');
    const md = referenceMarkdown();
    for (const s of SETTINGS) {
      for (const f of s.flags) {
        assert.ok(help.includes(f), `help lacks ${f}`);
        assert.ok(md.includes(`\`${f}`), `reference lacks ${f}`);
      }
    }
  });
});
