/**
 * Keeps a child's share of keep-alive connections fair.
 *
 * Children accept on one inherited socket, and Node 20 has neither
 * SO_REUSEPORT nor a way to pause accepting on it, so a burst of new
 * connections often lands on whichever child woke first: one child can hold
 * nearly every keep-alive connection while the others idle (ARCHITECTURE.md,
 * "Load balance", has the numbers). The controller adds up the children's
 * connection counts and tells each child its fair share; a child over its
 * share answers its next requests with `Connection: close` (the response is
 * complete, the client simply reconnects) until it is back within it, and the
 * reconnections spread over the children that have room.
 */
import type { Socket } from 'node:net';

/** Connections over the share a child keeps before it sheds: 10%, at least one. */
export function tolerance(share: number): number {
  return Math.max(1, Math.ceil(share * 0.1));
}

export class ConnectionBalance {
  /** Open client connections. */
  connections = 0;
  #share = Infinity;
  /** Connections told to close after their response and not closed yet. */
  #closing = 0;
  readonly #marked = new WeakSet<Socket>();

  /** The controller's fair share: open connections per serving child. */
  set share(share: number) {
    this.#share = share;
  }

  opened(): void {
    this.connections++;
  }

  closed(socket: Socket): void {
    this.connections--;
    if (this.#marked.delete(socket)) this.#closing--;
  }

  /** For a response about to be sent on `socket`: true when it should close its connection. */
  shed(socket: Socket): boolean {
    if (this.#marked.has(socket)) return true;
    if (this.connections - this.#closing <= this.#share + tolerance(this.#share)) return false;
    this.#marked.add(socket);
    this.#closing++;
    return true;
  }
}

/** The controller's side: each child's last reported count, and the fair share among the serving ones. */
export class ConnectionShares {
  readonly #counts = new Map<number, number>();

  /** Records child `id`'s count; returns its share: the serving children's connections divided among them. */
  report(id: number, connections: number, serving: ReadonlySet<number>): number {
    this.#counts.set(id, connections);
    let total = 0;
    let n = 0;
    for (const [child, count] of this.#counts) {
      if (!serving.has(child)) continue;
      total += count;
      n++;
    }
    return n === 0 ? connections : Math.ceil(total / n);
  }

  forget(id: number): void {
    this.#counts.delete(id);
  }
}
