/** What the kernel says about a TCP connection, through ss(8) from iproute2. */
import { execFileSync } from 'node:child_process';
import { waitFor } from './wait.js';

/**
 * Seconds until the next TCP keep-alive probe on the server's side of a
 * connection (`timer:(keepalive,59sec,0)`), or null when the kernel has no
 * keep-alive timer for it (SO_KEEPALIVE off) or no such established connection.
 */
export function keepAliveProbeIn(serverPort: number, clientPort: number): number | null {
  const out = execFileSync('ss', ['-Htno', 'state', 'established', `( sport = :${serverPort} and dport = :${clientPort} )`], { encoding: 'utf8' });
  const lines = out.split('\n').filter((line) => line.trim() !== '');
  if (lines.length > 1) throw new Error(`ss found ${lines.length} connections from :${clientPort} to :${serverPort}:\n${out}`);
  const timer = lines.length === 0 ? null : /timer:\(keepalive,([^,]+),/.exec(lines[0]!);
  if (timer === null) return null;
  const part = (unit: string): number => Number(new RegExp(`(\\d+)${unit}`).exec(timer[1]!)?.[1] ?? 0);
  return part('min') * 60 + part('sec') + part('ms') / 1000;
}

/** The seconds until the first keep-alive probe, once a front has accepted the connection and set its options. */
export function acceptedKeepAliveProbeIn(serverPort: number, clientPort: number): Promise<number> {
  return waitFor(() => keepAliveProbeIn(serverPort, clientPort), 'a keep-alive timer on the accepted connection', 5000);
}
