/**
 * No request waits for a thread while another front has one free.
 *
 * Fronts accept on one shared socket and the kernel picks which one wakes,
 * so a burst can split 13:7 between two fronts of four threads each: the
 * busier one queues a fourth round while the other idles (issue 17: 7 of 50
 * bursts of 20 one-second requests took 4 s instead of 3). A request a front
 * has read cannot move, but a connection it has not read from can: its bytes
 * are still in the kernel, and its descriptor can be sent to another process.
 *
 * So a front accepts with `pauseOnConnect` and reads a new connection only
 * while it has a free slot (its threads, less the requests in flight and the
 * connections taken but not heard from yet); the others wait, unread, in
 * arrival order (`AcceptGate`), up to --max-queue. Only a connection that has
 * waited HANDOFF_AFTER_MS may move: one whose front frees a slot sooner is
 * served sooner where it is than by a move through the controller, and under
 * connection churn (no keep-alive, 50 clients on 2 fronts of 8 slots) moving
 * every connection that waited at all cost a third of the throughput and
 * tripled p99. Waiting is for a slot here or a front with room, never behind
 * later requests: once a keep-alive client's next request has come after a
 * connection began to wait, and the hand-off had OVERTAKEN_GRACE_MS to find
 * the movable connection a front with room, it is read and queues with the
 * rest (without this, fronts saturated by keep-alive clients left new
 * connections unread until the load stopped: a 1-2 s p99 on the 64 KB echo
 * at --fronts 2). Each front tells the controller when movable connections
 * start or stop waiting in it, and while some wait anywhere, every change of
 * its room (`room`).
 * The controller (`HandoffBroker`) asks a front with waiting connections to
 * send as many as another front has free slots; the connections travel as
 * descriptors over Node's IPC channel, through the controller, to the front
 * with room, which reads them at once. Keep-alive connections already open
 * are not moved: their balance is the connection balance's
 * (connection-balance.ts), which sends new connections, unread, over the same
 * channel to a front short of its share (`redirect`).
 */
import type net from 'node:net';

/**
 * How long a connection waits in its front before it may move to another, in
 * ms. Under load a front frees a slot every fraction of a millisecond, and a
 * move costs two IPC hops and the controller's turn; the waits the hand-off
 * is for are of requests that take a second (a burst split 13:7 queueing a
 * round), which this delays by 1%.
 */
export const HANDOFF_AFTER_MS = 10;

/** How long a movable connection overtaken by later requests may still wait for the hand-off, in ms: time for the controller to move it (two IPC hops) to a front with room, short beside the 1-2 s it could wait before. */
export const OVERTAKEN_GRACE_MS = 10;

/** What a front tells the controller about its room, on every change of either figure's zero-ness. */
export interface RoomReport {
  t: 'room';
  /** Slots free now (threads less requests in flight and connections not heard from). */
  spare: number;
  /** Connections accepted, not read yet, and waiting long enough to move (HANDOFF_AFTER_MS). */
  waiting: number;
}

/**
 * Controller → front: send `n` waiting connections; front → controller: one
 * of them (with its descriptor); controller → front: take it; controller →
 * every front: connections wait somewhere (`on`), so report every change of
 * room, not only when a figure crosses zero; controller → every front: other
 * fronts serve (`peers`), so holding connections unread can help; front →
 * controller: a new connection (with its descriptor) for a front short of
 * its share of connections (`redirect`).
 */
export type HandoffMessage =
  | RoomReport
  | { t: 'send'; n: number }
  | { t: 'handoff' }
  | { t: 'connection' }
  | { t: 'wanted'; on: boolean }
  | { t: 'peers'; on: boolean }
  | { t: 'redirect' }
  /**
   * A draining front, idle, asks before it exits; the controller answers on
   * the same channel and sends it nothing more, so every connection sent to it
   * before has arrived (and is served) when the answer does.
   */
  | { t: 'last-call' };

export class AcceptGate {
  readonly #waiting: net.Socket[] = [];
  /** When each waiting connection started to wait. */
  readonly #since = new WeakMap<net.Socket, number>();
  /** Connections read from no request yet: each may bring one at any moment. */
  #reserved = 0;
  #lastSpare = -1;
  #lastWaiting = -1;
  /** Runs when the oldest connection not movable yet becomes movable. */
  #movableTimer: NodeJS.Timeout | null = null;
  /** Connections wait in some front: every change of room is news. */
  wanted = false;
  /** Another front serves or is starting: connections are held unread while there is no room. Alone, a front reads them at once (they queue in the relay, up to --max-queue, as before). */
  #peers: boolean;

  constructor(
    /** Requests in flight (running or queued). */
    private readonly inflight: () => number,
    private readonly capacity: number,
    /** Requests waiting in the relay for a slot, and how many may (--max-queue). */
    private readonly queued: () => number,
    private readonly maxQueue: number,
    /** Reads the connection: it becomes the front's. */
    private readonly take: (socket: net.Socket) => void,
    /** A connection was read after waiting `ms` (a queue wait). */
    private readonly waited: (ms: number) => void,
    /** Tells the controller (null: no controller to tell, e.g. a child run alone). */
    private readonly report: ((room: RoomReport) => void) | null,
    /** Other fronts serve or are starting (the child's start config). */
    peers: boolean,
    /** performance.now() of the newest request on a connection that had brought one before. */
    private readonly followUpAt: () => number,
    /** The clock of the waits (the relay's, `followUpAt`'s). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#peers = peers;
  }

  get spare(): number {
    return Math.max(0, this.capacity - this.inflight() - this.#reserved);
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Waiting connections that may move, those that waited HANDOFF_AFTER_MS: a prefix of the waiting ones, which are in arrival order. */
  get movable(): number {
    const now = this.now();
    let n = 0;
    while (n < this.#waiting.length && now - this.#waitingSince(this.#waiting[n]!) >= HANDOFF_AFTER_MS) n++;
    return n;
  }

  /**
   * A new connection, paused, nothing read. It waits unread while there is
   * no room, unless as many wait here already as --max-queue lets requests
   * wait: then it is read, and the relay answers 503 as before.
   */
  offer(socket: net.Socket): void {
    if (!this.#peers || (this.#waiting.length === 0 && this.spare > 0) || this.#waiting.length + this.queued() >= this.maxQueue) this.#take(socket);
    else {
      this.#waiting.push(socket);
      if (!this.#since.has(socket)) this.#since.set(socket, this.now());
      this.#armMovable();
      socket.once('close', () => {
        const i = this.#waiting.indexOf(socket);
        if (i >= 0) this.#waiting.splice(i, 1);
        this.changed();
      });
    }
    this.changed();
  }

  /**
   * A connection another front sent (the controller sent it because there
   * was room here) or one of ours that found no room elsewhere after all: like
   * a new one, it is read now if there is room, else it waits, unread.
   */
  accept(socket: net.Socket): void {
    holdUnread(socket);
    this.offer(socket);
  }

  /** A slot may have freed, or requests came: waiting connections are read while there is room, or once later requests overtook them. */
  pump(): void {
    while (this.#waiting.length > 0 && (this.spare > 0 || this.#overtaken(this.#waiting[0]!))) this.#take(this.#waiting.shift()!);
    this.changed();
  }

  #overtaken(socket: net.Socket): boolean {
    const since = this.#since.get(socket);
    return since !== undefined && since < this.followUpAt() && this.now() - since >= HANDOFF_AFTER_MS + OVERTAKEN_GRACE_MS;
  }

  #waitingSince(socket: net.Socket): number {
    return this.#since.get(socket) ?? 0;
  }

  /** Reports the room when the oldest connection not movable yet becomes movable (the report counts movable ones only). */
  #armMovable(): void {
    if (this.#movableTimer !== null || this.report === null) return;
    const next = this.#waiting[this.movable];
    if (next === undefined) return;
    // A timer may fire a fraction of a millisecond early by this clock: then it is armed again.
    const ms = Math.max(1, Math.ceil(this.#waitingSince(next) + HANDOFF_AFTER_MS - this.now()));
    this.#movableTimer = setTimeout(() => {
      this.#movableTimer = null;
      this.changed();
      this.#armMovable();
    }, ms);
    this.#movableTimer.unref();
  }

  /** Up to `n` of the movable connections, oldest first, for another front (report with changed() once they are sent). */
  give(n: number): net.Socket[] {
    return this.#waiting.splice(0, Math.min(n, this.movable));
  }

  set peers(on: boolean) {
    this.#peers = on;
    if (!on) this.takeAll();
    this.changed();
  }

  /** Reads every waiting connection (the front stops accepting: they are its own to answer). */
  takeAll(): void {
    while (this.#waiting.length > 0) this.#take(this.#waiting.shift()!);
    this.changed();
  }

  /**
   * Reports the room when movable connections start or stop waiting here, and
   * every change of it while they wait somewhere: the free slots of a front
   * matter only then. Under keep-alive load, however saturated, that is no
   * message at all, not one per request.
   */
  changed(): void {
    const spare = this.spare;
    const waiting = this.movable;
    if (this.report === null || (spare === this.#lastSpare && waiting === this.#lastWaiting)) return;
    const crossed = (waiting > 0) !== (this.#lastWaiting > 0) || this.#lastSpare < 0;
    if (!crossed && !this.wanted) return;
    this.#lastSpare = spare;
    this.#lastWaiting = waiting;
    this.report({ t: 'room', spare, waiting });
  }

  #take(socket: net.Socket): void {
    const since = this.#since.get(socket);
    if (since !== undefined) {
      this.#since.delete(socket);
      this.waited(this.now() - since);
    }
    this.#reserved++;
    let heard = false;
    const heardFrom = (): void => {
      if (heard) return;
      heard = true;
      this.#reserved--;
      this.changed();
    };
    // After the front's own 'data' listener: by then the request it brought is in flight.
    this.take(socket);
    socket.once('data', heardFrom);
    socket.once('close', heardFrom);
    socket.resume();
    release(socket);
  }
}

/** The controller's side: each front's last room report, and who sends whom what. */
export class HandoffBroker {
  readonly #room = new Map<number, { spare: number; waiting: number; asked: number }>();
  #wanted = false;

  constructor(
    /** Asks front `id` to send `n` waiting connections. */
    private readonly ask: (id: number, n: number) => void,
    /** Sends a connection to front `id`. */
    private readonly deliver: (id: number, socket: net.Socket) => boolean,
    /** Fronts that take new connections (serving, not draining). */
    private readonly serving: () => ReadonlySet<number>,
    /** How many fronts serve or are starting to. */
    private readonly fronts: () => number,
    /** Sends a message to front `id`, or to every front (null). */
    private readonly tell: (id: number | null, msg: HandoffMessage) => void,
  ) {}

  #peers: boolean | null = null;

  /**
   * After a front became ready or left: tells every front whether others
   * serve too (and always `to`, a new one). A front still starting counts:
   * the first front ready is not told it is alone, only to be told otherwise
   * a moment later, racing the first connections.
   */
  servingChanged(to?: number): void {
    const peers = this.fronts() > 1;
    if (peers !== this.#peers) {
      this.#peers = peers;
      this.tell(null, { t: 'peers', on: peers });
    } else if (to !== undefined) this.tell(to, { t: 'peers', on: peers });
  }

  report(id: number, room: { spare: number; waiting: number }): void {
    // Its report follows the connections it sent (one channel, in order): none is in transit any more.
    this.#room.set(id, { spare: room.spare, waiting: room.waiting, asked: 0 });
    this.#match();
  }

  forget(id: number): void {
    this.#room.delete(id);
    this.#match();
  }

  /** A connection front `from` sent: to the serving front with the most room, or back to `from`. */
  handoff(from: number, socket: net.Socket): void {
    holdUnread(socket);
    const sender = this.#room.get(from);
    if (sender !== undefined && sender.asked > 0) sender.asked--;
    const serving = this.serving();
    let best: number | null = null;
    let most = 0;
    for (const [id, room] of this.#room) {
      if (id === from || !serving.has(id) || room.spare <= most) continue;
      best = id;
      most = room.spare;
    }
    this.#deliver(from, best, socket);
  }

  /** A new connection front `from` sent for the connection balance: to `to` (a front short of its share), or back when none is. */
  redirect(from: number, socket: net.Socket, to: number | null): void {
    holdUnread(socket);
    this.#deliver(from, to, socket);
  }

  /**
   * Sends `socket` to front `to`; when `to` is null or gone, back to `from`, and when `from`
   * is gone too (or has had its last call), to any serving front; closes it when none is left.
   */
  #deliver(from: number, to: number | null, socket: net.Socket): void {
    if (to !== null) {
      const room = this.#room.get(to);
      if (room !== undefined && room.spare > 0) room.spare--;
      if (this.deliver(to, socket)) return;
    }
    if (this.deliver(from, socket)) return;
    for (const id of this.serving()) if (id !== from && id !== to && this.deliver(id, socket)) return;
    socket.destroy();
  }

  #match(): void {
    const serving = this.serving();
    let spare = 0;
    let waiting = 0;
    for (const [id, room] of this.#room) {
      waiting += room.waiting;
      if (serving.has(id)) spare += room.spare;
      spare -= room.asked;
    }
    const wanted = waiting > 0;
    if (wanted !== this.#wanted) {
      this.#wanted = wanted;
      this.tell(null, { t: 'wanted', on: wanted });
    }
    if (spare <= 0) return;
    for (const [id, room] of this.#room) {
      const n = Math.min(room.waiting - room.asked, spare);
      if (n <= 0 || room.spare > 0) continue;
      room.asked += n;
      spare -= n;
      this.ask(id, n);
      if (spare === 0) return;
    }
  }
}

/**
 * Node wraps a descriptor that arrives over IPC in a net.Socket that starts
 * reading at once, and a handle sent on while another is on its way waits for
 * that one's acknowledgement: the controller would read the client's request
 * meanwhile, and it would be lost with the descriptor; a front would read one
 * it should keep waiting. Reading is stopped on the handle itself, in the
 * same turn the socket arrived, before any read.
 * (net.Socket.pause() only stops the stream, not the handle; there is no
 * public way to do this. If Node's internals change, the hand-off test sees
 * requests stall until their headers timeout.)
 */
export function holdUnread(socket: net.Socket): void {
  const handle = handleOf(socket);
  if (handle === undefined) return;
  handle.reading = false;
  handle.readStop();
  socket.pause();
  held.add(socket);
}

/** Reading again, for a socket holdUnread() stopped: its stream still waits for the read it asked for then, so resume() alone would not restart the handle. */
function release(socket: net.Socket): void {
  if (!held.delete(socket)) return;
  const handle = handleOf(socket);
  if (handle === undefined) return;
  handle.reading = true;
  handle.readStart();
}

const held = new WeakSet<net.Socket>();

interface StreamHandle {
  reading?: boolean;
  readStop(): number;
  readStart(): number;
}

function handleOf(socket: net.Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  return handle?.readStop !== undefined && handle.readStart !== undefined ? (handle as StreamHandle) : undefined;
}
