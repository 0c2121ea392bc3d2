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
import type { FrontPeer } from './front.js';

/** Connections off the share that are left alone: 10%, at least one. */
export function tolerance(share: number): number {
  return Math.max(1, Math.ceil(share * 0.1));
}

export class ConnectionBalance {
  /** Open client connections. */
  connections = 0;
  /** The count sent in the last `stats`, which the controller's next share answers. */
  #reported = 0;
  /** Connections still to close: the excess over the share when it arrived. */
  #excess = 0;
  readonly #marked = new WeakSet<FrontPeer>();

  /** For the `stats` message. */
  report(): number {
    this.#reported = this.connections;
    return this.#reported;
  }

  /**
   * The controller's answer to the count we reported: how many to keep. The
   * excess is taken against that count, not the current one, so an answer
   * computed from counts a few hundred milliseconds old never sheds
   * connections that arrived since.
   */
  set share(keep: number) {
    this.#excess = Math.max(0, this.#reported - keep);
  }

  opened(): void {
    this.connections++;
  }

  closed(peer: FrontPeer): void {
    this.connections--;
    this.#marked.delete(peer);
  }

  /** For a response about to be sent on the connection `peer`: true when it should close it. */
  shed(peer: FrontPeer): boolean {
    if (this.#marked.has(peer)) return true;
    if (this.#excess === 0) return false;
    this.#excess--;
    this.#marked.add(peer);
    return true;
  }
}

/** The controller's side: each child's last reported count, and how many each should keep. */
export class ConnectionShares {
  readonly #counts = new Map<number, number>();

  /**
   * Records child `id`'s count; returns how many connections it should keep:
   * the fair share (the serving children's connections divided among them)
   * plus the tolerance, or exactly the share while another child is short of
   * it by more than the tolerance, so its shortfall is filled too.
   */
  report(id: number, connections: number, serving: ReadonlySet<number>): number {
    this.#counts.set(id, connections);
    let total = 0;
    let n = 0;
    let fewest = Infinity;
    for (const [child, count] of this.#counts) {
      if (!serving.has(child)) continue;
      total += count;
      n++;
      fewest = Math.min(fewest, count);
    }
    if (n === 0) return connections;
    const share = Math.ceil(total / n);
    return fewest < share - tolerance(share) ? share : share + tolerance(share);
  }

  forget(id: number): void {
    this.#counts.delete(id);
  }
}
