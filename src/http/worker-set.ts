/**
 * The child's Python workers: the one owner of which of them take requests,
 * how many requests each was given, and where each frame they send goes.
 *
 * Roles:
 * - current: the child's `size` workers, each serving once READY and
 *   attached; `pick` gives a request to the least loaded;
 * - replacement: started beside a current worker that is to go: a hung one
 *   (a Python thread cannot be killed), or one the controller evicts for
 *   --max-memory/--max-age; promoted to current once READY;
 * - retiring: a worker that was replaced; it finishes the requests it was
 *   given; once only hung ones are left (`retireeIdle`) a hung one is killed
 *   and an evicted one is asked to exit (SHUTDOWN), so its app exits cleanly.
 *
 * Frames about the worker itself (READY, LOAD_ERROR, MODULES) go to the
 * runtime's hooks, frames about a request to the request sink (the relay),
 * with the worker they came from. The child's machine decides; this set only
 * reports and carries out.
 */
import { ExitCode } from '../../protocol/exit-codes.js';
import { WorkerTag, type FromWorker, type LoadError, type ModuleFile, type ResponseFrame, type WorkerInfo } from '../../protocol/worker-messages.js';
import type { WorkerRole } from '../../protocol/control-messages.js';
import type { PythonWorker } from '../actors/python-worker.js';

/** Why a current worker is being replaced. */
export type ReplaceWhy = 'hung' | 'memory' | 'age';

/** What the runtime hears; each becomes an event of the child machine. */
export interface WorkerSetHooks {
  /** Every current worker has loaded the app. */
  ready(): void;
  /** A current worker exited before it was ready because the app cannot load (`code`: the child's exit code). */
  loadFailed(error: LoadError, code: number): void;
  /** A current worker exited, not for a load error; its requests wait for `failExited`. `remaining`: current workers still running. */
  exited(code: number | null, remaining: number): void;
  replacementReady(): void;
  replacementExited(): void;
  /** A retiring worker has no requests left that it will answer. */
  retireeIdle(pid: number): void;
  /** --reload=dev: source files of modules the worker imported. */
  modules(files: ModuleFile[]): void;
  log(line: string): void;
}

/** The relay, as the set sees it. */
export interface RequestSink {
  /** A frame about one of the requests given to `worker`. */
  frame(frame: ResponseFrame, worker: PythonWorker): void;
  /** A worker takes requests now: give it those that wait for one. */
  available(): void;
  /** `worker` is gone: answer its requests 502. Returns how many of them were not answered yet. */
  lost(worker: PythonWorker): number;
}

export interface WorkerExitReport {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Its requests answered 502. */
  failed: number;
}

/** A worker that exits 3 or 4 before READY without a LOAD_ERROR frame (say, killed mid-import). */
function silentLoadError(code: number): LoadError {
  const kind = code === ExitCode.ENV_ERROR ? 'environment' : 'app-load';
  return { kind, message: `the Python worker exited with code ${code} before loading the app`, where: '', traceback: '' };
}

function isResponseFrame(msg: FromWorker): msg is ResponseFrame {
  const tag = msg[0];
  switch (tag) {
    case WorkerTag.READY:
    case WorkerTag.LOAD_ERROR:
    case WorkerTag.MODULES:
      return false;
    case WorkerTag.START:
    case WorkerTag.CHUNK:
    case WorkerTag.END:
    case WorkerTag.RESPONSE:
    case WorkerTag.FILE:
    case WorkerTag.FAIL:
    case WorkerTag.WINDOW_BODY:
    case WorkerTag.EARLY_HINTS:
      return true;
    default: {
      const unrouted: never = tag;
      throw new Error(`worker frame with unknown tag ${String(unrouted)}`);
    }
  }
}

export class WorkerSet {
  readonly #spawn: () => PythonWorker;
  readonly #hooks: WorkerSetHooks;
  /** How many current workers the child runs. */
  readonly size: number;
  #sink: RequestSink | null = null;
  readonly #current: PythonWorker[] = [];
  /** Current workers that take requests (ready, and attached by the machine); an array, since `pick` walks it per request. */
  #serving: PythonWorker[] = [];
  #replacement: PythonWorker | null = null;
  /** Replaced workers finishing their requests, and why they were replaced. */
  readonly #retiring = new Map<PythonWorker, ReplaceWhy>();
  /** Requests given to each worker and not answered yet (hung ones answered 504 are not counted). */
  readonly #given = new Map<PythonWorker, number>();
  readonly #loadErrors = new Map<PythonWorker, LoadError>();
  #lastExit: { worker: PythonWorker; report: WorkerExitReport } | null = null;
  /** Where `pick` starts looking, so ties go round. */
  #turn = 0;
  /** The worker the replacement will take the place of, and why. */
  #outgoing: { worker: PythonWorker; why: ReplaceWhy } | null = null;
  /** The READY info of the first worker that loaded the app, for the child's `ready` message. */
  info: WorkerInfo | null = null;

  constructor(spawn: () => PythonWorker, hooks: WorkerSetHooks, size = 1) {
    this.#spawn = spawn;
    this.#hooks = hooks;
    this.size = size;
  }

  /** The relay: connected once, since it is built with this set. */
  connect(sink: RequestSink): void {
    this.#sink = sink;
  }

  #start(): PythonWorker {
    const w = this.#spawn();
    w.on('message', (msg) => this.#onMessage(w, msg));
    w.on('exit', (code, signal) => this.#onExit(w, code, signal));
    return w;
  }

  /** Starts current workers until there are `size`; each takes requests once READY and attached. */
  fill(): void {
    while (this.#current.length < this.size) this.#current.push(this.#start());
  }

  /** Ready current workers take requests from now on. */
  attach(): void {
    for (const w of this.#current) if (w.ready && !this.#serving.includes(w)) this.#serving.push(w);
    this.#sink?.available();
  }

  /** The next replacement takes the place of `worker` (hung: a request past --timeout; or evicted). */
  replaceNext(worker: PythonWorker, why: ReplaceWhy): void {
    this.#outgoing = { worker, why };
  }

  /** The worker the next (or running) replacement is for, and why; null when none is planned. */
  get outgoing(): { pid: number; why: ReplaceWhy } | null {
    return this.#outgoing ? { pid: this.#outgoing.worker.pid, why: this.#outgoing.why } : null;
  }

  /** Forgets the planned replacement (it exited before READY, or was killed); returns what it was for. */
  abandonReplacement(): { pid: number; why: ReplaceWhy } | null {
    const was = this.outgoing;
    this.#outgoing = null;
    return was;
  }

  startReplacement(): void {
    this.#replacement = this.#start();
  }

  /** The replacement takes the place of the outgoing worker, which retires with the requests it still has. */
  promote(): { oldPid: number; newPid: number; why: ReplaceWhy } | null {
    const fresh = this.#replacement;
    this.#replacement = null;
    if (fresh === null) return null;
    const out = this.#outgoing;
    this.#outgoing = null;
    const i = out === null ? -1 : this.#current.indexOf(out.worker);
    const old = i >= 0 ? this.#current.splice(i, 1)[0]! : null;
    if (old) this.#stopServing(old);
    this.#current.push(fresh);
    this.#serving.push(fresh);
    this.#sink?.available();
    if (!old || !out) return null;
    this.#retiring.set(old, out.why);
    const left = this.givenTo(old);
    const what = out.why === 'hung' ? `hung worker ${old.pid}` : `worker ${old.pid} (${out.why === 'memory' ? 'over the memory limit' : 'past its max age'})`;
    this.#hooks.log(`worker ${fresh.pid} replaces ${what}, which finishes its ${left} ${out.why === 'hung' ? 'other ' : ''}request(s)`);
    if (left === 0) this.#hooks.retireeIdle(old.pid);
    return { oldPid: old.pid, newPid: fresh.pid, why: out.why };
  }

  killReplacement(): void {
    this.#replacement?.kill('SIGKILL');
    this.#replacement = null;
  }

  /** A retiree with nothing left to answer: a hung one is killed (its thread cannot be stopped), an evicted one exits by itself. */
  killRetiree(pid: number): void {
    for (const [w, why] of this.#retiring) {
      if (w.pid !== pid) continue;
      if (why === 'hung') w.kill('SIGKILL');
      else w.send([WorkerTag.SHUTDOWN]);
    }
  }

  /** The serving current worker with this pid, or null. */
  servingWorker(pid: number): PythonWorker | null {
    return this.#serving.find((w) => w.pid === pid) ?? null;
  }

  /** Each worker process and what it does now (for stats). */
  roles(): { worker: PythonWorker; role: WorkerRole }[] {
    const out: { worker: PythonWorker; role: WorkerRole }[] = this.#current.map((w) => ({ worker: w, role: this.#serving.includes(w) ? 'serving' : 'starting' }));
    if (this.#replacement) out.push({ worker: this.#replacement, role: 'starting' });
    for (const w of this.#retiring.keys()) out.push({ worker: w, role: 'retiring' });
    return out;
  }

  killAll(): void {
    for (const w of this.all()) w.kill('SIGKILL');
  }

  /** Asks the current workers to finish and exit; false when there is none. */
  shutdown(): boolean {
    for (const w of this.#current) w.send([WorkerTag.SHUTDOWN]);
    return this.#current.length > 0;
  }

  /** Every worker process, whatever its role (for RSS and for killing). */
  all(): PythonWorker[] {
    return [...this.#current, ...(this.#replacement ? [this.#replacement] : []), ...this.#retiring.keys()];
  }

  /** The first current worker's pid (the one `stats` and `ready` report). */
  get currentPid(): number | null {
    return this.#current[0]?.pid ?? null;
  }

  /** True while `worker` takes new requests. */
  isServing(worker: PythonWorker): boolean {
    return this.#serving.includes(worker);
  }

  /**
   * The serving worker with the fewest requests, or null while none serves.
   * Ties go round in turn, so an idle server still spreads its requests (and
   * every worker stays warm) instead of sending them all to the first.
   */
  pick(): PythonWorker | null {
    const serving = this.#serving;
    const n = serving.length;
    if (n <= 1) return serving[0] ?? null;
    let best: PythonWorker | null = null;
    let least = Infinity;
    for (let i = 0; i < n; i++) {
      const w = serving[(this.#turn + i) % n]!;
      const given = this.#given.get(w) ?? 0;
      if (given < least) {
        best = w;
        least = given;
      }
    }
    this.#turn = (this.#turn + 1) % n;
    return best;
  }

  give(worker: PythonWorker): void {
    this.#given.set(worker, (this.#given.get(worker) ?? 0) + 1);
  }

  /** A request of `worker` has its answer (or was answered 504 while the app still runs it). */
  settle(worker: PythonWorker): void {
    const left = (this.#given.get(worker) ?? 1) - 1;
    if (left > 0) {
      this.#given.set(worker, left);
      return;
    }
    this.#given.delete(worker);
    if (this.#retiring.has(worker)) this.#hooks.retireeIdle(worker.pid);
  }

  givenTo(worker: PythonWorker): number {
    return this.#given.get(worker) ?? 0;
  }

  /** Answers the requests of the current worker that exited 502; what `reportExit` then reports. */
  failExited(): void {
    const last = this.#lastExit;
    if (last) last.report.failed = this.#lose(last.worker);
  }

  /** The last current worker that exited, with the requests it failed. */
  get lastExit(): WorkerExitReport | null {
    return this.#lastExit?.report ?? null;
  }

  #stopServing(worker: PythonWorker): void {
    this.#serving = this.#serving.filter((w) => w !== worker);
  }

  #lose(worker: PythonWorker): number {
    this.#stopServing(worker);
    this.#given.delete(worker);
    return this.#sink?.lost(worker) ?? 0;
  }

  #onMessage(w: PythonWorker, msg: FromWorker): void {
    if (isResponseFrame(msg)) {
      this.#sink?.frame(msg, w);
      return;
    }
    switch (msg[0]) {
      case WorkerTag.READY:
        w.ready = true;
        if (w === this.#replacement) {
          this.#hooks.replacementReady();
          return;
        }
        this.info ??= msg[1];
        if (this.#current.length === this.size && this.#current.every((c) => c.ready)) this.#hooks.ready();
        return;
      case WorkerTag.LOAD_ERROR:
        if (w === this.#replacement) {
          this.#hooks.log(`the replacement worker cannot load the app: ${msg[1].message}`);
          return;
        }
        this.#loadErrors.set(w, msg[1]);
        return;
      case WorkerTag.MODULES:
        this.#hooks.modules(msg[1]);
        return;
    }
  }

  #onExit(w: PythonWorker, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#retiring.delete(w)) {
      this.#lose(w);
      return;
    }
    if (w === this.#replacement) {
      this.#replacement = null;
      this.#hooks.replacementExited();
      return;
    }
    const i = this.#current.indexOf(w);
    if (i < 0) return; // a replacement we killed
    this.#current.splice(i, 1);
    this.#stopServing(w);
    let error = this.#loadErrors.get(w) ?? null;
    this.#loadErrors.delete(w);
    if (error === null && !w.ready && (code === ExitCode.APP_LOAD_ERROR || code === ExitCode.ENV_ERROR)) error = silentLoadError(code);
    if (error !== null) {
      this.#lose(w);
      const exitCode = code === ExitCode.ENV_ERROR || code === ExitCode.CONFIG_ERROR ? code : ExitCode.APP_LOAD_ERROR;
      this.#hooks.loadFailed(error, exitCode);
      return;
    }
    this.#lastExit = { worker: w, report: { pid: w.pid, code, signal, failed: 0 } };
    this.#hooks.exited(code, this.#current.length);
  }
}
