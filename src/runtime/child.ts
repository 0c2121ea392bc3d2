/**
 * Entry of a child process: `node dist/src/runtime/child.js`, started by the
 * controller with the control channel on fd 3 and the shared listening socket
 * on fd 4. Drives machines/child.ts; the decisions are the machine's.
 */
import http from 'node:http';
import net from 'node:net';
import type stream from 'node:stream';
import { createActor } from 'xstate';
import { HEALTHY_AFTER_MS } from '../../machines/backoff.js';
import { childMachine } from '../../machines/child.js';
import { leafStates } from '../../machines/diagram.js';
import type { ChildConfig, FromChild, ToChild } from '../../protocol/control-messages.js';
import { ExitCode } from '../../protocol/exit-codes.js';
import { WorkerTag, type FromWorker, type LoadError, type WorkerInfo } from '../../protocol/worker-messages.js';
import { totalRss } from '../actors/process-memory.js';
import { PythonWorker } from '../actors/python-worker.js';
import { FramedChannel } from '../ipc/framed-channel.js';
import { AccessLog } from '../http/access-log.js';
import { withCoverageReport } from '../http/coverage-report.js';
import { proxyTrust } from '../http/forwarded.js';
import { ConnectionBalance } from '../http/connection-balance.js';
import { RequestRelay, type RequestFrame } from '../http/request-relay.js';
import { startInspector } from '../status/inspector.js';
import { RequestMetrics } from '../status/request-metrics.js';

const CONTROL_FD = 3;
const LISTEN_FD = 4;

/** Status line for a request Node's parser rejected; null when there is no one to answer. */
function clientErrorStatus(code: string | undefined): string | null {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return '431 Request Header Fields Too Large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return '408 Request Timeout';
    default:
      return '400 Bad Request';
  }
}

function onClientError(err: NodeJS.ErrnoException, socket: stream.Duplex): void {
  const status = clientErrorStatus(err.code);
  if (status === null || !socket.writable) {
    socket.destroy();
    return;
  }
  const peer = (socket as net.Socket).remoteAddress ?? 'unix socket';
  process.stderr.write(`spawning: child ${process.pid}: ${status.slice(0, 3)} for ${peer}: ${err.code ?? 'HTTP_PARSE'} ${err.message}\n`);
  const body = `${status.slice(4)}\n`;
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
}

/** A worker that exits 3 or 4 before READY without a LOAD_ERROR frame (say, killed mid-import). */
function silentLoadError(code: number): LoadError {
  const kind = code === ExitCode.ENV_ERROR ? 'environment' : 'app-load';
  return { kind, message: `the Python worker exited with code ${code} before loading the app`, where: '', traceback: '' };
}

function startChild(config: ChildConfig, control: FramedChannel<ToChild, FromChild>): void {
  const accessLog = new AccessLog(config.accessLog, config.accessLogFormat);
  let worker: PythonWorker | null = null;
  // A hung worker's replacement while it starts, and hung workers finishing their other requests.
  let replacement: PythonWorker | null = null;
  const retirees = new Set<PythonWorker>();
  let loadError: LoadError | null = null;
  let restartTimer: NodeJS.Timeout | undefined;
  let healthyTimer: NodeJS.Timeout | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  let server: http.Server | null = null;
  let draining = false;
  // Open client connections: a drain waits for them too, since closing an idle keep-alive
  // connection races a request the client may be sending on it right now.
  const balance = new ConnectionBalance();
  let lastExit: { worker: PythonWorker; code: number | null; signal: NodeJS.Signals | null; failed: number } | null = null;
  let readyInfo: WorkerInfo = { pid: 0, python: '', threads: config.threads, app: '', factory: config.factory };

  const metrics = new RequestMetrics();
  const relay = new RequestRelay({
    identity: {
      serverName: config.unixPath ? 'localhost' : config.host,
      serverPort: config.unixPath ? '' : String(config.port),
      scheme: 'http',
      scriptName: config.scriptName,
      trustsProxy: proxyTrust(config.forwardedAllowIps),
    },
    keepalive: config.keepalive,
    maxBodySize: config.maxBodySize,
    concurrency: config.threads === 0 ? config.maxGreen : config.threads,
    maxQueue: config.maxQueue,
    timeoutMs: config.timeout * 1000,
    accessLog,
    onIdle: () => {
      if (draining && balance.connections === 0) actor.send({ type: 'IDLE' });
    },
    shedConnection: (socket) => balance.shed(socket),
    onTimeout: (w, method, path) => {
      const replace = w === worker && actor.getSnapshot().matches('serving');
      const what = replace ? `replacing worker ${w.pid}` : `worker ${w.pid} is being replaced or stopped already`;
      process.stderr.write(`spawning: child ${process.pid}: ${method} ${path} ran past --timeout ${config.timeout} s: 504; ${what}\n`);
      if (replace) actor.send({ type: 'WORKER_HUNG' });
    },
    onRetiredIdle: (w) => {
      if (retirees.has(w)) actor.send({ type: 'RETIREE_IDLE', pid: w.pid });
    },
    onResponse: (status, seconds) => metrics.observe(status, seconds),
  });

  const onWorkerMessage = (w: PythonWorker, msg: FromWorker): void => {
    switch (msg[0]) {
      case WorkerTag.READY:
        w.ready = true;
        if (w === replacement) {
          actor.send({ type: 'REPLACEMENT_READY' });
          return;
        }
        readyInfo = msg[1];
        actor.send({ type: 'WORKER_READY' });
        return;
      case WorkerTag.LOAD_ERROR:
        if (w === replacement) {
          process.stderr.write(`spawning: child ${process.pid}: the replacement worker cannot load the app: ${msg[1].message}\n`);
          return;
        }
        loadError = msg[1];
        return;
      case WorkerTag.MODULES:
        control.send({ t: 'modules', files: msg[1] });
        return;
      default:
        relay.onMessage(msg as RequestFrame);
    }
  };

  /** Every worker's exit, whatever its role: the current one, a replacement still starting, or a retiree. */
  const onWorkerExit = (w: PythonWorker, code: number | null, signal: NodeJS.Signals | null): void => {
    if (retirees.delete(w)) {
      relay.detach(w);
      return;
    }
    if (w === replacement) {
      replacement = null;
      actor.send({ type: 'REPLACEMENT_EXIT' });
      return;
    }
    if (w !== worker) return; // a replacement we killed
    worker = null;
    if (loadError === null && !w.ready && (code === ExitCode.APP_LOAD_ERROR || code === ExitCode.ENV_ERROR)) {
      loadError = silentLoadError(code);
    }
    if (loadError !== null) {
      relay.detach(w);
      const exitCode = code === ExitCode.ENV_ERROR || code === ExitCode.CONFIG_ERROR ? code : ExitCode.APP_LOAD_ERROR;
      actor.send({ type: 'WORKER_LOAD_ERROR', error: loadError, code: exitCode });
      return;
    }
    lastExit = { worker: w, code, signal, failed: 0 };
    actor.send({ type: 'WORKER_EXIT', code });
  };

  const allWorkers = (): PythonWorker[] => [worker, replacement, ...retirees].filter((w): w is PythonWorker => w !== null);
  const killWorkers = (): void => {
    for (const w of allWorkers()) w.kill('SIGKILL');
  };

  const startWorker = (): PythonWorker => {
    const w = new PythonWorker(config);
    w.on('message', (msg) => onWorkerMessage(w, msg));
    w.on('exit', (code, signal) => onWorkerExit(w, code, signal));
    return w;
  };


  const inspector = config.inspect ? startInspector(config.inspect, (line) => process.stderr.write(`${line} (child ${process.pid})\n`)) : null;
  const actor = createActor(
    childMachine.provide({
      actions: {
        spawnWorker: () => {
          loadError = null;
          worker = startWorker();
        },
        spawnReplacement: () => {
          replacement = startWorker();
        },
        swapWorker: () => {
          const old = worker;
          worker = replacement;
          replacement = null;
          if (worker) relay.attach(worker);
          if (!old) return;
          retirees.add(old);
          const left = relay.givenTo(old);
          process.stderr.write(`spawning: child ${process.pid}: worker ${worker?.pid} replaces hung worker ${old.pid}, which finishes its ${left} other request(s)\n`);
          if (left === 0) actor.send({ type: 'RETIREE_IDLE', pid: old.pid });
        },
        killReplacement: () => {
          replacement?.kill('SIGKILL');
          replacement = null;
        },
        reportReplacementFailed: () => {
          process.stderr.write(`spawning: child ${process.pid}: the replacement for hung worker ${worker?.pid} exited before it was ready; the hung worker keeps serving\n`);
        },
        killRetiree: (_, { pid }) => {
          for (const w of retirees) if (w.pid === pid) w.kill('SIGKILL');
        },
        failInflight: () => {
          if (lastExit) lastExit.failed = relay.detach(lastExit.worker);
        },
        reportWorkerExit: () => {
          if (!lastExit) return;
          const { worker: w, code, signal, failed } = lastExit;
          process.stderr.write(`spawning: child ${process.pid}: Python worker ${w.pid} exited (${signal ?? `code ${code}`}); ${failed} request(s) answered 502; restarting\n`);
          control.send({ t: 'worker-exit', pid: w.pid, code, signal, inflight: failed });
        },
        attachWorker: () => {
          if (worker) relay.attach(worker);
          clearTimeout(healthyTimer);
          healthyTimer = setTimeout(() => actor.send({ type: 'HEALTHY' }), HEALTHY_AFTER_MS);
        },
        listen: () => {
          server = http.createServer(
            { maxHeaderSize: config.maxHeaderSize, requestTimeout: 0, keepAlive: config.keepalive },
            config.coverageDir === null ? relay.handle : withCoverageReport(relay.handle, { ...config, dataDir: config.coverageDir }),
          );
          server.headersTimeout = config.headersTimeout * 1000;
          server.keepAliveTimeout = config.keepaliveTimeout * 1000;
          server.on('checkContinue', relay.checkContinue);
          server.on('connection', (socket: net.Socket) => {
            balance.opened();
            socket.once('close', () => {
              balance.closed(socket);
              if (draining && balance.connections === 0 && relay.inflight === 0) actor.send({ type: 'IDLE' });
            });
          });
          server.on('clientError', onClientError);
          // The backlog as an argument: Node reads `backlog` from the options only for ports and paths,
          // and with `{fd}` alone it would call listen(2) again with 511, shrinking the controller's backlog.
          server.listen({ fd: LISTEN_FD }, config.backlog);
        },
        reportReady: () => {
          if (worker) control.send({ t: 'ready', pid: process.pid, workerPid: worker.pid, info: readyInfo });
        },
        reportLoadError: (_, { error }) => control.send({ t: 'load-error', error }),
        scheduleRestart: (_, { delayMs }) => {
          restartTimer = setTimeout(() => actor.send({ type: 'RESTART_DUE' }), delayMs);
        },
        cancelRestart: () => clearTimeout(restartTimer),
        stopAccepting: () => {
          draining = true;
          relay.drain();
          // net.Server's close, not http.Server's: stop accepting but leave idle keep-alive
          // connections open, so a request already on its way over one is answered (with
          // Connection: close) instead of lost; they end at their keep-alive timeout.
          if (server) net.Server.prototype.close.call(server);
          control.send({ t: 'draining', inflight: relay.inflight });
        },
        startDeadman: () => {
          setTimeout(() => actor.send({ type: 'DEADMAN' }), config.deadmanTimeout * 1000).unref();
        },
        checkIdle: () => {
          if (relay.inflight === 0 && balance.connections === 0) actor.send({ type: 'IDLE' });
        },
        shutdownWorker: () => {
          if (worker) worker.send([WorkerTag.SHUTDOWN]);
          else actor.send({ type: 'WORKER_EXIT', code: null });
        },
        killEverything: () => {
          killWorkers();
          server?.closeAllConnections();
        },
        exit: (_, { code }) => {
          inspector?.stop();
          clearInterval(statsTimer);
          clearTimeout(healthyTimer);
          killWorkers();
          // A last report, so the controller's totals include every request this child served.
          void pushStats()
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
  control.on('message', (msg) => {
    if (msg.t === 'drain') actor.send({ type: 'DRAIN' });
    else if (msg.t === 'reopen-logs') accessLog.reopen();
    else if (msg.t === 'balance') balance.share = msg.share;
  });
  control.on('close', () => actor.send({ type: 'DRAIN' }));

  // Pushed, never polled: the controller answers status requests from the last report,
  // so a stuck child cannot stall them (it is shown as unresponsive instead).
  const pushStats = async (): Promise<void> => {
    const workerRss = await totalRss(allWorkers().map((w) => w.pid));
    control.send({
      t: 'stats',
      requests: relay.requests,
      inflight: relay.inflight,
      workerPid: worker?.pid ?? null,
      rss: process.memoryUsage.rss() + workerRss,
      workerRss,
      state: leafStates(actor.getSnapshot().value).join(' '),
      responses: metrics.responses,
      metrics: await metrics.json(),
      connections: balance.report(),
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
  control.once('message', (msg) => {
    started = true;
    if (msg.t !== 'start') {
      process.stderr.write(`spawning: child ${process.pid}: expected a start message, got ${msg.t}\n`);
      process.exit(ExitCode.CRASH);
    }
    startChild(msg.config, control);
  });
  control.on('close', () => {
    if (!started) process.exit(ExitCode.OK);
  });
}

main();
