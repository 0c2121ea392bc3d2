/**
 * A real NATS server with JetStream for the fleet tests. Where a Docker engine
 * is reachable it comes from testcontainers (@testcontainers/nats); otherwise
 * the Debian `nats-server` binary runs on a free loopback port with its own
 * temporary store directory. Never a skip: without either, the test fails
 * and says which package is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const NATS_SERVER_BIN = '/usr/sbin/nats-server';

export interface NatsOptions {
  /** Require this token (`--auth`). */
  token?: string;
  user?: string;
  pass?: string;
  /** Serve TLS with this certificate; `verify` also requires client certificates signed by `ca`. */
  tls?: { cert: string; key: string; ca: string; verify?: boolean };
  /** The local binary even where Docker is reachable: tests that stop and restart the server need its process. */
  local?: boolean;
}

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` (or `tls://…`). */
  url: string;
  port: number;
  /** Which kind of server this is, for test names and diagnostics. */
  kind: 'local' | 'container';
  /** Stops the server; start() brings it back on the same port with the same store (local servers only). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its store. */
  dispose(): Promise<void>;
}

const started = new Set<NatsServer>();

/** Stops every server this test file started; call from `after()`. */
export async function disposeAllNats(): Promise<void> {
  await Promise.all([...started].map((s) => s.dispose()));
}

function dockerReachable(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const socketPath = host?.startsWith('unix://') ? host.slice(7) : host ? null : '/var/run/docker.sock';
  if (socketPath !== null && !existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const target = socketPath !== null ? { path: socketPath } : (() => {
      const u = new URL(host!.replace(/^tcp:/, 'http:'));
      return { host: u.hostname, port: Number(u.port) };
    })();
    const s = net.connect(target as net.NetConnectOpts);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const server = !options.local && (await dockerReachable()) ? await startContainer(options) : await startLocal(options);
  started.add(server);
  return server;
}

function authArgs(options: NatsOptions): string[] {
  const args: string[] = [];
  if (options.token) args.push('--auth', options.token);
  if (options.user) args.push('--user', options.user, '--pass', options.pass ?? '');
  return args;
}

async function startLocal(options: NatsOptions): Promise<NatsServer> {
  if (!existsSync(NATS_SERVER_BIN)) throw new Error(`${NATS_SERVER_BIN} is missing: apt-get install nats-server (scripts/bootstrap does it as root)`);
  const store = mkdtempSync(path.join(tmpdir(), 'spawning-nats-'));
  let port = -1; // the first start picks a free port; restarts reuse it
  let proc: ChildProcess | null = null;
  const tlsArgs = options.tls
    ? ['--tlscert', options.tls.cert, '--tlskey', options.tls.key, ...(options.tls.verify ? ['--tlsverify', '--tlscacert', options.tls.ca] : ['--tls'])]
    : [];

  const start = async (): Promise<void> => {
    const p = spawn(NATS_SERVER_BIN, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store, ...authArgs(options), ...tlsArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc = p;
    let log = '';
    p.stderr!.setEncoding('utf8');
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start within 10 s:\n${log}`)), 10_000);
      p.stderr!.on('data', (d: string) => {
        log += d;
        const listening = /Listening for client connections on [^\s]+:(\d+)/.exec(log);
        if (listening && /Server is ready/.test(log)) {
          clearTimeout(timer);
          resolve(Number(listening[1]));
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}) before it was ready:\n${log}`));
      });
    });
    p.stderr!.resume();
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill('SIGKILL');
    await exited;
  };

  await start();
  const scheme = options.tls ? 'tls' : 'nats';
  const server: NatsServer = {
    get url() {
      return `${scheme}://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    kind: 'local',
    stop,
    start,
    dispose: async () => {
      started.delete(server);
      await stop();
      rmSync(store, { recursive: true, force: true });
    },
  };
  return server;
}

async function startContainer(options: NatsOptions): Promise<NatsServer> {
  // Loaded only here: testcontainers probes for Docker when imported.
  const { NatsContainer } = await import('@testcontainers/nats');
  let container = new NatsContainer('nats:2.10-alpine').withJetStream();
  if (options.user) container = container.withUsername(options.user).withPass(options.pass ?? '');
  if (options.token) container = container.withArg('auth', options.token);
  if (options.tls) {
    container = container
      .withCopyFilesToContainer([
        { source: options.tls.cert, target: '/certs/cert.pem' },
        { source: options.tls.key, target: '/certs/key.pem' },
        { source: options.tls.ca, target: '/certs/ca.pem' },
      ])
      .withArg('tlscert', '/certs/cert.pem')
      .withArg('tlskey', '/certs/key.pem');
    container = options.tls.verify ? container.withArg('tlsverify').withArg('tlscacert', '/certs/ca.pem') : container.withArg('tls');
  }
  const running = await container.start();
  const host = running.getHost() === 'localhost' ? '127.0.0.1' : running.getHost();
  const scheme = options.tls ? 'tls' : 'nats';
  const server: NatsServer = {
    get url() {
      return `${scheme}://${host}:${running.getMappedPort(4222)}`;
    },
    get port() {
      return running.getMappedPort(4222);
    },
    kind: 'container',
    stop: () => Promise.reject(new Error('a container NATS cannot be restarted on the same port: startNats({ local: true })')),
    start: () => Promise.reject(new Error('a container NATS cannot be restarted on the same port: startNats({ local: true })')),
    dispose: async () => {
      started.delete(server);
      await running.stop();
    },
  };
  return server;
}
