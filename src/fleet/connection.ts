/** The --nats* flags as NATS connection options, checked before anything connects. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { ConfigError, FleetError } from '../errors.js';
import type { Settings } from '../config/settings.js';

export type NatsSettings = Pick<Settings, 'nats' | 'natsCreds' | 'natsToken' | 'natsUser' | 'natsPassword' | 'natsTlsCa' | 'natsTlsCert' | 'natsTlsKey'>;

function readable(flag: string, file: string): string {
  try {
    readFileSync(file);
    return file;
  } catch (err) {
    throw new ConfigError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** Throws ConfigError for combinations that cannot work. `name` labels the connection on the server. */
export function connectionOptions(s: NatsSettings, name: string): ConnectionOptions {
  if (s.nats.length === 0) throw new ConfigError('no NATS server given: --nats nats://HOST:4222');
  const opts: ConnectionOptions = { servers: s.nats, name };
  const auth = [s.natsCreds && '--nats-creds', s.natsToken && '--nats-token', (s.natsUser || s.natsPassword) && '--nats-user/--nats-password'].filter(Boolean);
  if (auth.length > 1) throw new ConfigError(`use one way to authenticate to NATS, not ${auth.join(' and ')}`);
  if (s.natsCreds) {
    const creds = readFileSync(readable('--nats-creds', s.natsCreds));
    opts.authenticator = credsAuthenticator(new Uint8Array(creds));
  }
  if (s.natsToken) opts.token = s.natsToken;
  if (s.natsUser || s.natsPassword) {
    if (!s.natsUser || s.natsPassword === null) throw new ConfigError('--nats-user and --nats-password go together');
    opts.user = s.natsUser;
    opts.pass = s.natsPassword;
  }
  if ((s.natsTlsCert === null) !== (s.natsTlsKey === null)) throw new ConfigError('--nats-tls-cert and --nats-tls-key go together');
  if (s.natsTlsCa || s.natsTlsCert) {
    opts.tls = {};
    if (s.natsTlsCa) opts.tls.caFile = readable('--nats-tls-ca', s.natsTlsCa);
    if (s.natsTlsCert) opts.tls.certFile = readable('--nats-tls-cert', s.natsTlsCert);
    if (s.natsTlsKey) opts.tls.keyFile = readable('--nats-tls-key', s.natsTlsKey);
  }
  return opts;
}

/** The default --node-name: the hostname, with what a subject token cannot hold made '-'. */
export function defaultNodeName(host = hostname()): string {
  return host.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'node';
}

/**
 * The connection of a fleet command. The first connect fails fast with one
 * clear line; once connected, it reconnects (to any server of the cluster) for
 * a while instead of giving up: a NATS node that dies under a `fleet reload`
 * must not end the rollout.
 */
export async function connectOnce(s: NatsSettings, name: string): Promise<NatsConnection> {
  const opts = connectionOptions(s, name);
  try {
    return await connect({ ...opts, reconnect: true, maxReconnectAttempts: 40, reconnectTimeWait: 250, timeout: 5000 });
  } catch (err) {
    throw new FleetError(`cannot connect to NATS at ${s.nats.join(',')}: ${describeNatsError(err)}`);
  }
}

/**
 * NATS and JetStream errors that pass by themselves: a server of the cluster
 * went away (the client reconnects to another), a stream's leader is being
 * elected, a request timed out. Worth another try within a deadline.
 */
export function isTransientNatsError(err: unknown): boolean {
  return /timeout|timed out|no responders|temporarily unavailable|\b503\b|disconnect|connection (closed|lost)|reconnect|no suitable peers|leader/i.test(describeNatsError(err));
}

/** NATS errors carry their reason in a cause chain; one line of it. */
export function describeNatsError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  while (e instanceof Error && parts.length < 4) {
    if (!parts.some((p) => p.includes(e instanceof Error ? e.message : ''))) parts.push(e.message);
    e = (e as Error & { cause?: unknown }).cause;
  }
  return parts.join(': ') || String(err);
}
