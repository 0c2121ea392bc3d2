/**
 * Entry of a child process: `node dist/src/runtime/child.js`, started by the
 * controller with the control channel on fd 3 and the shared listening socket
 * on fd 4. Drives machines/child.ts; the decisions are the machine's.
 */
import net from 'node:net';
import { createActor } from 'xstate';
import { HEALTHY_AFTER_MS } from '../../machines/backoff.js';
import { childMachine } from '../../machines/child.js';
import { leafStates } from '../../machines/diagram.js';
import type { ChildConfig, FromChild, ToChild } from '../../protocol/control-messages.js';
import { ExitCode } from '../../protocol/exit-codes.js';
import { rssByPid } from '../actors/process-memory.js';
import { PythonWorker } from '../actors/python-worker.js';
import { FramedChannel } from '../ipc/framed-channel.js';
import { AccessLog } from '../http/access-log.js';
import { clientErrors } from '../http/client-error.js';
import { proxyTrust } from '../http/forwarded.js';
import { listenFront, type Front } from '../http/http-front.js';
import { ConnectionBalance } from '../http/connection-balance.js';
import { AcceptGate, type HandoffMessage } from '../http/connection-handoff.js';
import { RequestRelay } from '../http/request-relay.js';
import { loadTracer } from '../http/tracing.js';
import { WorkerSet } from '../http/worker-set.js';
import { RequestMetrics } from '../status/request-metrics.js';

const CONTROL_FD = 3;
/** The listening sockets start here (several when systemd hands several). */
const FIRST_LISTEN_FD = 4;

/** Control messages after `start`, held until the child listens for them (it may first await an import). */
interface ControlInbox {
  listen(handler: (msg: ToChild) => void): void;
}

async function startChild(config: ChildConfig, control: FramedChannel<ToChild, FromChild>, inbox: ControlInbox): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`spawning: child ${process.pid}: ${line}\n`);
  const accessLog = new AccessLog(config.accessLog, config.accessLogFormat);
  clientErrors.configure(config.errorLogInterval * 1000);
  let restartTimer: NodeJS.Timeout | undefined;
  let healthyTimer: NodeJS.Timeout | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  let front: Front | null = null;
  let draining = false;
  // Open client connections: a drain waits for them too, since closing an idle keep-alive
  // connection races a request the client may be sending on it right now.
  const balance = new ConnectionBalance();

  const workers = new WorkerSet(() => new PythonWorker(config), {
    ready: () => actor.send({ type: 'WORKER_READY' }),
    loadFailed: (error, code) => actor.send({ type: 'WORKER_LOAD_ERROR', error, code }),
    exited: (code, remaining) => actor.send({ type: 'WORKER_EXIT', code, remaining }),
    replacementReady: () => actor.send({ type: 'REPLACEMENT_READY' }),
    replacementExited: () => actor.send({ type: 'REPLACEMENT_EXIT' }),
    retireeIdle: (pid) => actor.send({ type: 'RETIREE_IDLE', pid }),
    modules: (files) => control.send({ t: 'modules', files }),
    log,
  }, config.workers);
  const metrics = new RequestMetrics();
  // Loaded only with --otel-endpoint: the SDK and its exporter would weigh on every child.
  const tracer = config.otelEndpoint === null ? null : await loadTracer(config.otelEndpoint, log);
  const relay = new RequestRelay(
    {
      identity: {
        serverName: config.unixPath ? 'localhost' : config.host,
        serverPort: config.unixPath ? '' : String(config.port),
        scheme: 'http',
        scriptName: config.scriptName,
        trustsProxy: proxyTrust(config.forwardedAllowIps),
      },
      keepalive: config.keepalive,
      maxBodySize: config.maxBodySize,
      concurrency: (config.threads === 0 ? config.maxGreen : config.threads) * config.workers,
      maxQueue: config.maxQueue,
      timeoutMs: config.timeout * 1000,
      accessLog,
      onIdle: () => idleIfDone(),
      shedConnection: (socket) => balance.shed(socket),
      waitingConnections: (): number => gate?.waiting ?? 0,
      onTimeout: (w, method, path) => {
        const replace = workers.isServing(w) && actor.getSnapshot().matches('serving');
        if (replace) workers.replaceNext(w, 'hung');
        const what = replace ? `replacing worker ${w.pid}` : `worker ${w.pid} is being replaced or stopped already`;
        log(`${method} ${path} ran past --timeout ${config.timeout} s: 504; ${what}`);
        if (replace) actor.send({ type: 'WORKER_HUNG' });
      },
      onResponse: (status, seconds) => {
        metrics.observe(status, seconds);
        gate?.pump();
      },
      slotFreed: () => gate?.pump(),
      tracer,
    },
    workers,
  );

  // With the controller's IPC channel (not when a test runs a child alone), connections that
  // would wait here can go to a front with a free thread (connection-handoff.ts).
  // Only the cleartext HTTP/1.1 front takes connections paused: TLS, h2c and PROXY headers read first.
  const ipc = process.send !== undefined && process.env.SPAWNING_FRONT !== 'node' && config.tls === null && !config.h2c && !config.proxyProtocol;
  const send = (msg: HandoffMessage, socket?: net.Socket): void => {
    if (process.connected) process.send!(msg, socket);
  };
  const concurrency = (config.threads === 0 ? config.maxGreen : config.threads) * config.workers;
  const gate: AcceptGate | null = ipc
    ? new AcceptGate(
        () => relay.inflight,
        concurrency,
        () => relay.queued,
        config.maxQueue,
        (socket) => front?.adopt?.(socket),
        (ms) => relay.connectionWaited(ms),
        (room) => send(room),
        config.peers,
        () => relay.followUpAt,
      )
    : null;
  // Draining, this child exits once idle, but not before its last call: the controller answers it on the
  // IPC channel, behind every connection it sent here, which the control channel's DRAIN may have overtaken.
  let lastCall: 'none' | 'asked' | 'answered' = ipc ? 'none' : 'answered';
  const idleIfDone = (): void => {
    if (!draining || balance.connections > 0 || relay.inflight > 0) return;
    if (lastCall === 'answered' || !process.connected) actor.send({ type: 'IDLE' });
    else if (lastCall === 'none') {
      lastCall = 'asked';
      send({ t: 'last-call' });
    }
  };
  if (ipc) {
    process.channel?.unref();
    process.on('disconnect', idleIfDone);
    process.on('message', (msg: HandoffMessage, socket?: net.Socket) => {
      if (msg.t === 'last-call') {
        lastCall = 'answered';
        idleIfDone();
      } else if (msg.t === 'send') {
        for (const s of gate!.give(msg.n)) send({ t: 'handoff' }, s);
        gate!.changed();
      } else if (msg.t === 'peers') {
        gate!.peers = msg.on;
      } else if (msg.t === 'wanted') {
        gate!.wanted = msg.on;
        gate!.changed();
      } else if (msg.t === 'connection' && socket) {
        // Draining meanwhile: still answered, with Connection: close.
        if (front === null) socket.destroy();
        else {
          // As the front's own accepted sockets are (h1-server.ts).
          socket.allowHalfOpen = true;
          socket.setNoDelay(true);
          gate!.accept(socket);
        }
      }
    });
  }

  // Loaded only with --inspect: the inspector and its WebSocket client weigh about 15 MB in every child.
  const inspector = config.inspect
    ? (await import('../status/inspector.js')).startInspector(config.inspect, (line) => process.stderr.write(`${line} (child ${process.pid})\n`))
    : null;
  const actor = createActor(
    childMachine.provide({
      actions: {
        spawnWorker: () => workers.fill(),
        spawnReplacement: () => workers.startReplacement(),
        swapWorker: () => {
          const swap = workers.promote();
          if (swap && swap.why !== 'hung') control.send({ t: 'worker-evicted', oldPid: swap.oldPid, newPid: swap.newPid, outcome: 'replaced' });
        },
        killReplacement: () => {
          workers.killReplacement();
          const was = workers.abandonReplacement();
          if (was && was.why !== 'hung') control.send({ t: 'worker-evicted', oldPid: was.pid, newPid: 0, outcome: 'refused' });
        },
        reportReplacementFailed: () => {
          const was = workers.abandonReplacement();
          if (!was) return;
          const what = was.why === 'hung' ? 'hung worker' : 'worker';
          log(`the replacement for ${what} ${was.pid} exited before it was ready; the ${what} keeps serving`);
          if (was.why !== 'hung') control.send({ t: 'worker-evicted', oldPid: was.pid, newPid: 0, outcome: 'failed' });
        },
        killRetiree: (_, { pid }) => workers.killRetiree(pid),
        failInflight: () => workers.failExited(),
        reportWorkerExit: () => {
          const exit = workers.lastExit;
          if (!exit) return;
          log(`Python worker ${exit.pid} exited (${exit.signal ?? `code ${exit.code}`}); ${exit.failed} request(s) answered 502; restarting`);
          control.send({ t: 'worker-exit', pid: exit.pid, code: exit.code, signal: exit.signal, inflight: exit.failed });
        },
        attachWorker: () => {
          workers.attach();
          clearTimeout(healthyTimer);
          healthyTimer = setTimeout(() => actor.send({ type: 'HEALTHY' }), HEALTHY_AFTER_MS);
        },
        listen: () => {
          const onClosed = (): void => {
            gate?.pump();
            idleIfDone();
          };
          const accepted =
            gate === null ? undefined : (socket: net.Socket): void => (process.connected && balance.redirects() ? send({ t: 'redirect' }, socket) : gate.offer(socket));
          const fronts = Array.from({ length: config.listenFds }, (_, i) => listenFront(FIRST_LISTEN_FD + i, config, relay, balance, onClosed, accepted));
          front =
            fronts.length === 1
              ? fronts[0]!
              : { stopAccepting: () => fronts.forEach((f) => f.stopAccepting()), closeAll: () => fronts.forEach((f) => f.closeAll()), adopt: (socket) => fronts[0]!.adopt?.(socket) };
        },
        reportReady: () => {
          const pid = workers.currentPid;
          if (pid !== null && workers.info) control.send({ t: 'ready', pid: process.pid, workerPid: pid, info: workers.info });
        },
        reportLoadError: (_, { error }) => control.send({ t: 'load-error', error }),
        scheduleRestart: (_, { delayMs }) => {
          restartTimer = setTimeout(() => actor.send({ type: 'RESTART_DUE' }), delayMs);
        },
        cancelRestart: () => clearTimeout(restartTimer),
        stopAccepting: () => {
          draining = true;
          relay.drain();
          front?.stopAccepting();
          // Connections it accepted are its own to answer (with Connection: close), not lost.
          gate?.takeAll();
          control.send({ t: 'draining', inflight: relay.inflight });
        },
        startDeadman: () => {
          setTimeout(() => actor.send({ type: 'DEADMAN' }), config.deadmanTimeout * 1000).unref();
        },
        checkIdle: () => idleIfDone(),
        shutdownWorker: () => {
          if (!workers.shutdown()) actor.send({ type: 'WORKER_EXIT', code: null, remaining: 0 });
        },
        killEverything: () => {
          workers.killAll();
          front?.closeAll();
        },
        exit: (_, { code }) => {
          inspector?.stop();
          clearInterval(statsTimer);
          clearTimeout(healthyTimer);
          clientErrors.flush();
          workers.killAll();
          // A last report, so the controller's totals include every request this child served.
          void Promise.all([pushStats().catch(() => {}), tracer?.shutdown(2000)])
            .catch(() => {})
            .finally(() =>
              accessLog.close().finally(() => {
                control.flush();
                process.exit(code);
              }),
            );
        },
      },
    }),
    { inspect: inspector?.inspect },
  );

  // Ctrl-C and a terminal hangup reach the whole process group; the controller decides.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGTERM', () => actor.send({ type: 'DRAIN' }));
  inbox.listen((msg) => {
    if (msg.t === 'drain') actor.send({ type: 'DRAIN' });
    else if (msg.t === 'reopen-logs') accessLog.reopen();
    else if (msg.t === 'balance') balance.share = msg;
    else if (msg.t === 'evict-worker') evict(msg.pid, msg.reason);
    else if (msg.t === 'tls') {
      config.tls = msg.material;
      front?.setMaterial?.(msg.material);
    }
  });
  control.on('close', () => actor.send({ type: 'DRAIN' }));

  /** The controller's eviction: only a serving worker of a serving child, one replacement at a time. */
  const evict = (pid: number, reason: 'memory' | 'age'): void => {
    const w = workers.servingWorker(pid);
    if (w === null || !actor.getSnapshot().matches('serving')) {
      control.send({ t: 'worker-evicted', oldPid: pid, newPid: 0, outcome: 'refused' });
      return;
    }
    workers.replaceNext(w, reason);
    actor.send({ type: 'WORKER_EVICT' });
  };

  // Pushed, never polled: the controller answers status requests from the last report,
  // so a stuck child cannot stall them (it is shown as unresponsive instead).
  const pushStats = async (): Promise<void> => {
    const roles = workers.roles();
    const rss = await rssByPid(roles.map(({ worker }) => worker.pid));
    let workerRss = 0;
    for (const n of rss.values()) workerRss += n;
    control.send({
      t: 'stats',
      requests: relay.requests,
      inflight: relay.inflight + (gate?.waiting ?? 0),
      workerPid: workers.currentPid,
      rss: process.memoryUsage.rss() + workerRss,
      workerRss,
      workers: roles.filter(({ worker }) => rss.has(worker.pid)).map(({ worker, role }) => ({ pid: worker.pid, rss: rss.get(worker.pid)!, role })),
      state: leafStates(actor.getSnapshot().value).join(' '),
      responses: metrics.responses,
      metrics: metrics.json(),
      connections: balance.report(),
      balanceClosed: balance.closedTotal,
      balanceRedirected: balance.redirectedTotal,
      clientErrors: { ...clientErrors.counts },
      ...relay.counters(),
    });
  };
  statsTimer = setInterval(() => void pushStats(), config.statsInterval);
  statsTimer.unref();

  let lastState = '';
  actor.subscribe({
    next: (snapshot) => {
      const state = leafStates(snapshot.value).join(' ');
      if (state !== lastState) {
        lastState = state;
        void pushStats();
      }
    },
    error: (err) => process.stderr.write(`spawning: child machine: ${String(err)}\n`),
  });
  actor.start();
  actor.send({ type: 'START' });
}

function main(): void {
  const control = new FramedChannel<ToChild, FromChild>(new net.Socket({ fd: CONTROL_FD, readable: true, writable: true }));
  let started = false;
  // A drain can arrive while startChild awaits the inspector's import (--inspect): keep it for then.
  const held: ToChild[] = [];
  let handler: ((msg: ToChild) => void) | null = null;
  const inbox: ControlInbox = {
    listen: (h) => {
      handler = h;
      for (const msg of held.splice(0)) h(msg);
    },
  };
  control.on('message', (msg) => {
    if (started) {
      if (handler) handler(msg);
      else held.push(msg);
      return;
    }
    started = true;
    if (msg.t !== 'start') {
      process.stderr.write(`spawning: child ${process.pid}: expected a start message, got ${msg.t}\n`);
      process.exit(ExitCode.CRASH);
    }
    startChild(msg.config, control, inbox).catch((err: unknown) => {
      process.stderr.write(`spawning: child ${process.pid}: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(ExitCode.CRASH);
    });
  });
  control.on('close', () => {
    if (!started) process.exit(ExitCode.OK);
  });
}

main();
