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
 * complete, the client simply reconnects) until it is back within it.
 *
 * Where the reconnections land is the kernel's choice again, so a child short
 * of its share would fill only by luck: with 4 children sharing 32
 * connections, one could sit at 6 for seconds (requests spread by -27%). So
 * while a child is short by more than the tolerance, the others at their share
 * do not serve new connections: they send them, unread, through the
 * controller to the short child (the hand-off's channel,
 * connection-handoff.ts), as many as it lacks.
 */
import type { FrontPeer } from './front.js';

/** Connections off the mean that are left alone: 10%, at least one. */
export function tolerance(mean: number): number {
  return Math.max(1, mean * 0.1);
}

export class ConnectionBalance {
  /** Open client connections. */
  connections = 0;
  /** Connections closed (marked for `Connection: close`) because the child held more than its share, since it started. */
  closedTotal = 0;
  /** New connections sent to a child short of its share, since it started. */
  redirectedTotal = 0;
  /** The count sent in the last `stats`, which the controller's next share answers. */
  #reported = 0;
  /** Connections still to close: the excess over the share when it arrived. */
  #excess = 0;
  /** How many to keep, by the controller's last answer (Infinity before it). */
  #keep = Infinity;
  /** New connections still to send to a child short of its share. */
  #redirect = 0;
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
  set share({ keep, redirect }: Share) {
    this.#excess = Math.max(0, this.#reported - keep);
    this.#keep = keep;
    this.#redirect = redirect;
  }

  /** For a new connection, unread: true when it should go to a child short of its share instead (counted as sent). */
  redirects(): boolean {
    if (this.#redirect === 0 || this.connections < this.#keep) return false;
    this.#redirect--;
    this.redirectedTotal++;
    return true;
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
    this.closedTotal++;
    return true;
  }
}

/** The controller's answer to a child's count. */
export interface Share {
  /** Connections to keep. */
  keep: number;
  /** New connections to send to a child short of its share (while the child holds at least `keep`). */
  redirect: number;
}

/** The controller's side: each child's last reported count, how many each should keep, and who takes redirected connections. */
export class ConnectionShares {
  readonly #counts = new Map<number, number>();
  /** Connections redirected to each child since its last report (its count does not have them yet). */
  readonly #sent = new Map<number, number>();

  /**
   * Records child `id`'s count; answers how many connections it should keep:
   * the mean (the serving children's connections divided among them) plus
   * the tolerance, rounded down, or exactly the share (the mean rounded up)
   * while another child is below the mean by more than the tolerance. Then a
   * child at its share also redirects new connections, as many as the short
   * children lack together, less those already sent to them. (Rounding the
   * mean up before adding a rounded-up tolerance let 3 children sharing 32
   * connections hold 13/10/9: +22%.)
   */
  report(id: number, connections: number, serving: ReadonlySet<number>): Share {
    this.#counts.set(id, connections);
    this.#sent.delete(id);
    const mean = this.#mean(serving);
    if (mean === null) return { keep: connections, redirect: 0 };
    const share = Math.ceil(mean);
    let lacking = 0;
    for (const child of this.#counts.keys()) {
      const held = this.#held(child);
      if (serving.has(child) && held < mean - tolerance(mean)) lacking += share - held;
    }
    if (lacking === 0) return { keep: Math.floor(mean + tolerance(mean)), redirect: 0 };
    return { keep: share, redirect: serving.has(id) && connections >= share ? lacking : 0 };
  }

  /** For a connection child `from` redirected: the serving child furthest below the share (counting those sent since it reported), or null when none is below it any more. */
  target(from: number, serving: ReadonlySet<number>): number | null {
    const mean = this.#mean(serving);
    if (mean === null) return null;
    const share = Math.ceil(mean);
    let best: number | null = null;
    let fewest = share;
    for (const child of this.#counts.keys()) {
      const held = this.#held(child);
      if (child === from || !serving.has(child) || held >= fewest) continue;
      best = child;
      fewest = held;
    }
    if (best !== null) this.#sent.set(best, (this.#sent.get(best) ?? 0) + 1);
    return best;
  }

  forget(id: number): void {
    this.#counts.delete(id);
    this.#sent.delete(id);
  }

  /** Child `id`'s connections by its last report, and those redirected to it since. */
  #held(id: number): number {
    return (this.#counts.get(id) ?? 0) + (this.#sent.get(id) ?? 0);
  }

  /** The serving children's connections divided among them (null: none serves). */
  #mean(serving: ReadonlySet<number>): number | null {
    let total = 0;
    let n = 0;
    for (const [child, count] of this.#counts) {
      if (!serving.has(child)) continue;
      total += count;
      n++;
    }
    return n === 0 ? null : total / n;
  }
}
