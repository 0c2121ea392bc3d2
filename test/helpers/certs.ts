/**
 * Certificates made for a test with Debian's openssl: a CA, server
 * certificates it signs (for 127.0.0.1 and localhost), a client certificate
 * it signs, and a self-signed client certificate it does not.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Pair {
  cert: string;
  key: string;
  /** Hex, as X509Certificate.serialNumber gives it. */
  serial: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  /** A server certificate signed by the CA; each call makes a new one (a new serial). */
  server(name?: string): Pair;
  /** A client certificate (CN=client, O=spawning test) signed by the CA. */
  client: Pair;
  /** A self-signed client certificate the CA did not sign. */
  stranger: Pair;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function serialOf(file: string): string {
  return new X509Certificate(readFileSync(file)).serialNumber;
}

export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'spawning-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=spawning test CA']);
  let n = 0;
  const signed = (name: string, subject: string, ext: string): Pair => {
    const key = path.join(dir, `${name}.key`);
    const cert = path.join(dir, `${name}.pem`);
    openssl(dir, ['req', ...ec, '-keyout', key, '-out', `${name}.csr`, '-subj', subject]);
    const extFile = path.join(dir, `${name}.ext`);
    execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', ext, extFile]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extFile]);
    return { cert, key, serial: serialOf(cert) };
  };
  const client = signed('client', '/O=spawning test/CN=client', 'extendedKeyUsage=clientAuth');
  const strangerKey = path.join(dir, 'stranger.key');
  const strangerCert = path.join(dir, 'stranger.pem');
  openssl(dir, ['req', '-x509', ...ec, '-keyout', strangerKey, '-out', strangerCert, '-days', '2', '-subj', '/CN=stranger']);
  return {
    dir,
    ca: path.join(dir, 'ca.pem'),
    server: (name = `server${++n}`) => signed(name, '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'),
    client,
    stranger: { cert: strangerCert, key: strangerKey, serial: serialOf(strangerCert) },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
