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
 * connection-handoff.ts), as many as it lacks. The controller tells them at
 * once, when the short child reports, not at their own next report.
 *
 * A child that has not reported for two stats rounds is out of the balance
 * (a stopped or blocked event loop): connections sent to it would wait,
 * unread, until it wakes, and be lost if it is killed.
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
  /** Connections closed since the last report: an answer repeated for that report must not close them again. */
  #shedSinceReport = 0;
  /** How many to keep, by the controller's last answer (Infinity before it). */
  #keep = Infinity;
  /** New connections still to send to a child short of its share. */
  #redirect = 0;
  readonly #marked = new WeakSet<FrontPeer>();

  /** For the `stats` message. */
  report(): number {
    this.#reported = this.connections;
    this.#shedSinceReport = 0;
    return this.#reported;
  }

  /**
   * The controller's answer to the count we reported: how many to keep. The
   * excess is taken against that count, not the current one, so an answer
   * computed from counts a few hundred milliseconds old never sheds
   * connections that arrived since. The controller may answer a report
   * again (when another child turns out short): what was closed since the
   * report counts against the excess.
   */
  set share({ keep, redirect }: Share) {
    this.#excess = Math.max(0, this.#reported - keep - this.#shedSinceReport);
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
    this.#shedSinceReport++;
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
  /** When each child last reported, by `now`. */
  readonly #reportedAt = new Map<number, number>();

  constructor(
    /** How long a child may go without reporting and still take part (boot.ts: SILENT_AFTER_MS, which the status page uses too). */
    private readonly silentAfterMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records child `id`'s count and answers it (see `answer`). */
  report(id: number, connections: number, serving: ReadonlySet<number>): Share {
    this.#counts.set(id, connections);
    this.#reportedAt.set(id, this.now());
    this.#sent.delete(id);
    return this.answer(id, serving);
  }

  /**
   * How many connections child `id` should keep, by the counts reported: the
   * mean (the connections of the children in the balance divided among them)
   * plus the tolerance, rounded down, or exactly the share (the mean rounded
   * up) while another child is below the mean by more than the tolerance.
   * Then a child at its share also redirects new connections, as many as the
   * short children lack together, less those already sent to them. (Rounding
   * the mean up before adding a rounded-up tolerance let 3 children sharing
   * 32 connections hold 13/10/9: +22%.)
   */
  answer(id: number, serving: ReadonlySet<number>): Share {
    const connections = this.#counts.get(id) ?? 0;
    const live = this.responsive(serving);
    const mean = this.#mean(live);
    if (mean === null) return { keep: connections, redirect: 0 };
    const share = Math.ceil(mean);
    let lacking = 0;
    for (const child of live) if (this.#short(child, mean)) lacking += share - this.#held(child);
    if (lacking === 0) return { keep: Math.floor(mean + tolerance(mean)), redirect: 0 };
    return { keep: share, redirect: live.has(id) && connections >= share ? lacking : 0 };
  }

  /** When child `id` is short of its share: the others in the balance, whose answers change now. */
  toTell(id: number, serving: ReadonlySet<number>): number[] {
    const live = this.responsive(serving);
    const mean = this.#mean(live);
    if (mean === null || !live.has(id) || !this.#short(id, mean)) return [];
    return [...live].filter((child) => child !== id);
  }

  /** For a connection child `from` redirected: the child in the balance furthest below the share (counting those sent since it reported), or null when none is below it any more. */
  target(from: number, serving: ReadonlySet<number>): number | null {
    const live = this.responsive(serving);
    const mean = this.#mean(live);
    if (mean === null) return null;
    const share = Math.ceil(mean);
    let best: number | null = null;
    let fewest = share;
    for (const child of live) {
      const held = this.#held(child);
      if (child === from || held >= fewest) continue;
      best = child;
      fewest = held;
    }
    if (best !== null) this.#sent.set(best, (this.#sent.get(best) ?? 0) + 1);
    return best;
  }

  forget(id: number): void {
    this.#counts.delete(id);
    this.#sent.delete(id);
    this.#reportedAt.delete(id);
  }

  /** Child `id`'s connections by its last report, and those redirected to it since. */
  #held(id: number): number {
    return (this.#counts.get(id) ?? 0) + (this.#sent.get(id) ?? 0);
  }

  /** Whether child `id` is below the mean by more than the tolerance. */
  #short(id: number, mean: number): boolean {
    return this.#held(id) < mean - tolerance(mean);
  }

  /** The children in the balance: serving, and heard from within `silentAfterMs`. The hand-off sends connections only to these too. */
  responsive(serving: ReadonlySet<number>): Set<number> {
    const now = this.now();
    const live = new Set<number>();
    for (const [child, at] of this.#reportedAt) if (serving.has(child) && now - at <= this.silentAfterMs) live.add(child);
    return live;
  }

  /** Their connections divided among them (null: none is in the balance). */
  #mean(live: ReadonlySet<number>): number | null {
    if (live.size === 0) return null;
    let total = 0;
    for (const child of live) total += this.#counts.get(child)!;
    return total / live.size;
  }
}
