/**
 * The --nats* flags: how they map to connection options, the errors for bad
 * combinations, authentication (token, user/password, TLS with client
 * certificates) against a real nats-server, and a controller that keeps
 * serving HTTP while NATS is away and rejoins when it is back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { defaults } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { connectionOptions, defaultNodeName } from '../../src/fleet/connection.js';
import { disposeAllNats, startNats } from '../helpers/nats.js';
import { fleetMembers, killAllServers, runCli, startServer } from '../helpers/server.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'spawning-nats-conn-'));
const nats = (more: Partial<ReturnType<typeof defaults>>) => ({ ...defaults(), nats: ['nats://127.0.0.1:4222'], ...more });

after(async () => {
  killAllServers();
  await disposeAllNats();
  rmSync(tmp, { recursive: true, force: true });
});

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

describe('connection options', () => {
  test('map each way to authenticate', () => {
    assert.equal(connectionOptions(nats({ natsToken: 't0k' }), 'n').token, 't0k');
    const up = connectionOptions(nats({ natsUser: 'u', natsPassword: 'p' }), 'n');
    assert.deepEqual([up.user, up.pass], ['u', 'p']);
    const ca = path.join(tmp, 'ca.pem');
    writeFileSync(ca, 'x');
    assert.deepEqual(connectionOptions(nats({ natsTlsCa: ca, natsTlsCert: ca, natsTlsKey: ca }), 'n').tls, { caFile: ca, certFile: ca, keyFile: ca });
    assert.deepEqual(connectionOptions(nats({ nats: ['nats://a:1', 'nats://b:2'] }), 'web-1').servers, ['nats://a:1', 'nats://b:2']);
  });

  test('reject combinations that cannot work, in one line naming the flags', () => {
    const bad: Array<[Partial<ReturnType<typeof defaults>>, RegExp]> = [
      [{ natsToken: 't', natsUser: 'u', natsPassword: 'p' }, /one way to authenticate to NATS, not --nats-token and --nats-user\/--nats-password/],
      [{ natsUser: 'u' }, /--nats-user and --nats-password go together/],
      [{ natsTlsCert: '/etc/hostname' }, /--nats-tls-cert and --nats-tls-key go together/],
      [{ natsCreds: path.join(tmp, 'missing.creds') }, /--nats-creds .*missing\.creds: no such file/],
      [{ nats: [] }, /no NATS server given/],
    ];
    for (const [more, message] of bad) assert.throws(() => connectionOptions(nats(more), 'n'), (e: unknown) => e instanceof ConfigError && message.test(e.message));
  });

  test('the default node name is the hostname, made a valid subject token', () => {
    assert.equal(defaultNodeName('web-1.example.com'), 'web-1-example-com');
    assert.equal(defaultNodeName('db_2'), 'db_2');
  });
});

describe('fleet flags on the command line', () => {
  test('bad fleet flags end with one line and exit 2 before anything is bound', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--nats', 'nats://127.0.0.1:1', '--nats-user', 'u', 'app.app'], /--nats-user and --nats-password go together \[SPAWNING_ERR_CONFIG\]/],
      [['--fleet', 'a.b', 'app.app'], /invalid value for --fleet: expected letters, digits/],
      [['--nats', 'http://x y', 'app.app'], /invalid value for --nats: expected nats:\/\/HOST:PORT/],
      [['--json', 'app.app'], /option --json applies to spawning fleet only/],
      [['fleet', 'status', '--processes', '2'], /option --processes applies to the server, not to spawning fleet/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trim(), new RegExp(`^spawning: error: .*${message.source}`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});

describe('authentication against a real nats-server', { timeout: 60_000 }, () => {
  test('token: a controller with the token joins; a command without it is refused', async () => {
    const server = await startNats({ token: 's3cret-token' });
    const ctl = await startServer({ args: ['--processes', '1', '--nats', server.url, '--nats-token', 's3cret-token', '--fleet', 'auth', '--node-name', 'tok', 'controller_apps:hello'] });
    await ctl.waitForStderr(/fleet: joined fleet 'auth' as 'tok'/);
    const ok = await runCli(['fleet', 'status', '--json', '--nats', server.url, '--nats-token', 's3cret-token', '--fleet', 'auth']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual((JSON.parse(ok.stdout) as Array<{ node: string }>).map((r) => r.node), ['tok']);
    for (const wrong of [[], ['--nats-token', 'wrong']]) {
      const refused = await runCli(['fleet', 'status', '--nats', server.url, '--fleet', 'auth', ...wrong]);
      assert.equal(refused.code, 5);
      assert.match(refused.stderr, /cannot connect to NATS .*authorization violation/i);
    }
    await ctl.stop();
  });

  test('user and password', async () => {
    const server = await startNats({ user: 'ops', pass: 'pa55' });
    const ok = await runCli(['fleet', 'status', '--nats', server.url, '--nats-user', 'ops', '--nats-password', 'pa55']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /fleet 'default' has no members/);
    const refused = await runCli(['fleet', 'status', '--nats', server.url, '--nats-user', 'ops', '--nats-password', 'nope']);
    assert.equal(refused.code, 5);
  });

  test('TLS with a private CA and client certificates', async () => {
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: tmp, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    writeFileSync(path.join(tmp, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const who of ['server', 'client']) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
      ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', `${who}.pem`);
    }
    const f = (name: string): string => path.join(tmp, name);
    const server = await startNats({ tls: { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem'), verify: true } });
    const tlsArgs = ['--nats-tls-ca', f('ca.pem'), '--nats-tls-cert', f('client.pem'), '--nats-tls-key', f('client.key')];
    const ok = await runCli(['fleet', 'status', '--nats', server.url, ...tlsArgs]);
    assert.equal(ok.code, 0, ok.stderr);
    const noClientCert = await runCli(['fleet', 'status', '--nats', server.url, '--nats-tls-ca', f('ca.pem')]);
    assert.equal(noClientCert.code, 5, noClientCert.stderr);
    const untrusted = await runCli(['fleet', 'status', '--nats', server.url, ...tlsArgs.slice(2)]);
    assert.equal(untrusted.code, 5, 'a server certificate from an unknown CA was accepted');
  });
});

describe('losing NATS', { timeout: 90_000 }, () => {
  test('never stops serving HTTP; the controller joins late, reconnects and rejoins', async () => {
    const server = await startNats({ local: true });
    await server.stop(); // NATS is down when the controller starts
    const ctl = await startServer({ args: ['--processes', '1', '--nats', server.url, '--fleet', 'lost', '--node-name', 'n1', '--fleet-ttl', '2', 'controller_apps:hello'] });
    await ctl.waitForStderr(/fleet: cannot connect to NATS: .*retrying in \d+ ms/);
    assert.equal(await get(ctl.port), 200);
    await server.start();
    await ctl.waitForStderr(/fleet: joined fleet 'lost' as 'n1'/, 20_000);
    await server.stop();
    await ctl.waitForStderr(/fleet: lost NATS; still serving, reconnecting/);
    assert.equal(await get(ctl.port), 200);
    await server.start();
    await ctl.waitForStderr(/fleet: rejoined fleet 'lost' as 'n1'/, 20_000);
    assert.deepEqual((await fleetMembers(['--nats', server.url, '--fleet', 'lost'])).map((r) => r.node), ['n1']);
    const exit = await ctl.stop();
    assert.equal(exit.code, 0);
    // A clean stop leaves the fleet at once instead of waiting for the TTL.
    assert.deepEqual(await fleetMembers(['--nats', server.url, '--fleet', 'lost']), []);
  });
});
