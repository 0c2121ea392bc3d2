/**
 * TLS for the child's front: the certificate material the controller reads
 * (and reads again on every reload), the options a child's server is made
 * with, and the client-certificate keys of the environ.
 *
 * The controller reads the files, not the children: it checks them once
 * before anything is bound (one line, exit 2), a key readable by root alone
 * still serves under --chuid, and a reload that finds a broken file keeps
 * the material the children already have.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { ChildConfig, TlsMaterial } from '../../protocol/control-messages.js';
import { TlsError } from '../errors.js';


/** The flags that shape the TLS server besides the material. */
export type TlsPolicy = Pick<ChildConfig, 'certReqs' | 'sslMinVersion' | 'ciphers'>;

export interface TlsFiles {
  certfile: string;
  keyfile: string;
  caCerts: string | null;
}

interface TlsFlags extends TlsPolicy {
  certfile: string | null;
  keyfile: string | null;
  caCerts: string | null;
  proxyProtocol: boolean;
  h2c: boolean;
}

/** The files to read, or null for cleartext; a flag that needs another one is an error. */
export function tlsFiles(flags: TlsFlags): TlsFiles | null {
  const { certfile, keyfile, caCerts } = flags;
  if (certfile === null && keyfile === null) {
    const stray = caCerts !== null ? '--ca-certs' : flags.certReqs !== 'none' ? '--cert-reqs' : flags.ciphers !== null ? '--ciphers' : null;
    if (stray) throw new TlsError(`${stray} needs --certfile and --keyfile (it applies to TLS only)`);
    return null;
  }
  if (certfile === null) throw new TlsError('--keyfile needs --certfile');
  if (keyfile === null) throw new TlsError('--certfile needs --keyfile');
  if (flags.certReqs !== 'none' && caCerts === null) throw new TlsError(`--cert-reqs ${flags.certReqs} needs --ca-certs (the CAs client certificates must chain to)`);
  if (flags.h2c) throw new TlsError('--h2c is cleartext HTTP/2; with --certfile, HTTP/2 is offered through ALPN (see --http2)');
  // The PROXY header comes before the TLS handshake, and the TLS front hands its sockets to tls.Server unread.
  if (flags.proxyProtocol) throw new TlsError('--proxy-protocol is not supported with --certfile yet: the PROXY header comes before the TLS handshake and the TLS front does not read it; terminate TLS at the balancer, or drop --proxy-protocol');
  return { certfile, keyfile, caCerts };
}

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'a directory' : (err as Error).message;
    throw new TlsError(`${flag} ${file}: ${why}`);
  }
}

/** OpenSSL's reason without its `error:0480006C:PEM routines::` prefix. */
function reason(err: unknown): string {
  return (err as Error).message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '');
}

/**
 * Reads and checks the files: each parses, the key is the certificate's, and
 * a server can be made from them with the policy (the cipher list included).
 */
export function loadTlsMaterial(files: TlsFiles, policy: TlsPolicy): TlsMaterial {
  const cert = readPem('--certfile', files.certfile);
  const key = readPem('--keyfile', files.keyfile);
  const ca = files.caCerts === null ? null : readPem('--ca-certs', files.caCerts);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsError(`--certfile ${files.certfile}: not a PEM certificate (${reason(err)})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsError(`--keyfile ${files.keyfile}: not a PEM private key (${reason(err)})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new TlsError(`--keyfile ${files.keyfile} is not the key of --certfile ${files.certfile}`);
  if (ca !== null) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new TlsError(`--ca-certs ${files.caCerts}: not a PEM certificate (${reason(err)})`);
    }
  }
  const material: TlsMaterial = { cert, key, ca, serial: leaf.serialNumber };
  try {
    tls.createSecureContext(secureContextOptions(material, policy));
  } catch (err) {
    const what = policy.ciphers !== null && /cipher/i.test((err as Error).message) ? `--ciphers '${policy.ciphers}'` : `--certfile ${files.certfile}`;
    throw new TlsError(`${what}: ${reason(err)}`);
  }
  return material;
}

export function secureContextOptions(m: TlsMaterial, policy: TlsPolicy): tls.SecureContextOptions {
  return {
    cert: m.cert,
    key: m.key,
    ...(m.ca === null ? {} : { ca: m.ca }),
    minVersion: policy.sslMinVersion,
    ...(policy.ciphers === null ? {} : { ciphers: policy.ciphers }),
  };
}

/** Options of the child's tls.Server; `alpn`: the protocols offered, in preference order. */
export function tlsServerOptions(m: TlsMaterial, policy: TlsPolicy, alpn: string[], handshakeTimeoutMs: number): tls.TlsOptions {
  return {
    ...secureContextOptions(m, policy),
    ALPNProtocols: alpn,
    requestCert: policy.certReqs !== 'none',
    // 'optional' refuses a certificate that does not verify too (as Python's CERT_OPTIONAL and
    // gunicorn do): the server checks it after the handshake, since OpenSSL cannot ask for "any or none".
    rejectUnauthorized: policy.certReqs === 'required',
    handshakeTimeout: handshakeTimeoutMs,
    allowHalfOpen: true,
  };
}

/**
 * With --cert-reqs optional: true when the client presented a certificate
 * that does not verify (the connection is then refused).
 */
export function refusedOptional(socket: tls.TLSSocket, policy: TlsPolicy): boolean {
  if (policy.certReqs !== 'optional' || socket.authorized) return false;
  const peer = socket.getPeerCertificate();
  return peer !== null && Object.keys(peer).length > 0;
}

/** RFC 4514 (as Apache's SSL_CLIENT_S_DN and nginx's $ssl_client_s_dn): the most specific RDN first, commas escaped. */
export function rfc4514(x509Name: string): string {
  const rdns = x509Name.split('\n').filter((l) => l !== '');
  return rdns
    .reverse()
    .map((rdn) => {
      const eq = rdn.indexOf('=');
      const value = rdn.slice(eq + 1).replace(/([,+"\\<>;])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
      return `${rdn.slice(0, eq)}=${value}`;
    })
    .join(',');
}

/** The environ keys of one TLS connection (computed once per connection). */
export function tlsEnviron(socket: tls.TLSSocket): Record<string, string> {
  const env: Record<string, string> = { HTTPS: 'on' };
  const protocol = socket.getProtocol();
  if (protocol) env.SSL_PROTOCOL = protocol;
  const cipher = socket.getCipher();
  if (cipher) env.SSL_CIPHER = cipher.standardName;
  const peer = socket.getPeerX509Certificate();
  if (peer === undefined) {
    env.SSL_CLIENT_VERIFY = 'NONE';
    return env;
  }
  env.SSL_CLIENT_VERIFY = socket.authorized ? 'SUCCESS' : `FAILED:${String(socket.authorizationError ?? 'unknown')}`;
  env.SSL_CLIENT_S_DN = rfc4514(peer.subject);
  env.SSL_CLIENT_I_DN = rfc4514(peer.issuer);
  env.SSL_CLIENT_M_SERIAL = peer.serialNumber;
  env.SSL_CLIENT_V_START = peer.validFrom;
  env.SSL_CLIENT_V_END = peer.validTo;
  env.SSL_CLIENT_CERT = peer.toString();
  return env;
}
