/**
 * `--daemonize --stdout FILE --stderr FILE`: the process that owns the log
 * files. The daemon and everything it starts (children, Python workers, the
 * app's prints) write to pipes whose other ends are this process's fd 0
 * (stdout) and fd 3 (stderr); it appends what arrives to the files and
 * reopens them on SIGUSR1 (the controller forwards its own), so a rotated
 * file is let go by every process at once, without restarting any. It exits
 * when every writer has closed its end.
 *
 * `node dist/src/runtime/log-pump.js STDOUT_FILE STDERR_FILE` ('' for none).
 */
import fs from 'node:fs';
import net from 'node:net';

interface Sink {
  file: string;
  fd: number;
}

function open(file: string): number {
  return fs.openSync(file, 'a', 0o644);
}

function pump(input: net.Socket, sink: Sink, done: () => void): void {
  input.on('data', (chunk: Buffer) => {
    try {
      fs.writeSync(sink.fd, chunk);
    } catch {
      // A full disk or a vanished file must not stop the daemon: its output is dropped until reopened.
    }
  });
  input.on('close', done);
  input.on('error', () => {});
}

function main(): void {
  const files = process.argv.slice(2, 4);
  const sinks: Array<Sink | null> = files.map((f) => (f ? { file: f, fd: open(f) } : null));
  let open_ = 0;
  const finished = (): void => {
    if (--open_ === 0) process.exit(0);
  };
  [0, 3].forEach((fd, i) => {
    const sink = sinks[i];
    if (!sink) return;
    open_++;
    pump(new net.Socket({ fd, readable: true, writable: false }), sink, finished);
  });
  process.on('SIGUSR1', () => {
    for (const sink of sinks) {
      if (!sink) continue;
      try {
        const fd = open(sink.file);
        fs.closeSync(sink.fd);
        sink.fd = fd;
      } catch (err) {
        // Keep writing to the old file rather than lose output.
        fs.writeSync(sink.fd, `spawning: cannot reopen ${sink.file}: ${(err as Error).message}\n`);
      }
    }
  });
  // The daemon decides when to stop; its writers closing is what ends this process.
  for (const signal of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(signal, () => {});
  if (open_ === 0) process.exit(0);
}

main();
