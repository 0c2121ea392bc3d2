/**
 * FILE frames (wsgi.file_wrapper over a regular file): the front sends the
 * file the app opened, read through the worker's own descriptor
 * (/proc/<worker>/fd/<n>), so a file deleted or replaced since is still the
 * one sent, and no byte crosses the worker channel. Every FILE is answered
 * FILE_OPENED, so the worker can close its duplicate.
 */
import fs from 'node:fs';
import { WorkerTag } from '../../protocol/worker-messages.js';
import type { PythonWorker } from '../actors/python-worker.js';
import type { Exchange } from './exchange.js';
import { sendStream } from './send-stream.js';

/** Reads of a file being sent: fewer, larger writes to the socket than the stream default of 64 KiB. */
const FILE_CHUNK = 256 * 1024;
const noop = (): void => {};

/** The worker may close its duplicate of a file sent by FILE: we opened ours, or never will. */
export function fileOpened(worker: PythonWorker | null, workerFd: number): void {
  if (worker !== null && !worker.exited) worker.send([WorkerTag.FILE_OPENED, workerFd]);
}

/**
 * Streams `length` bytes (-1: to the end) from `offset` of the worker's descriptor `workerFd`
 * into the exchange's response, with backpressure; `done` once sent, or with why not. An exchange
 * answered or finished meanwhile sends nothing.
 */
export function sendWorkerFile(ex: Exchange, worker: PythonWorker, workerFd: number, offset: number, length: number, done: (err: Error | null) => void): void {
  fs.open(`/proc/${worker.pid}/fd/${workerFd}`, 'r', (openErr, fd) => {
    fileOpened(worker, workerFd);
    if (openErr !== null) return done(openErr);
    if (ex.answered || ex.done) {
      fs.close(fd, noop);
      return done(null);
    }
    const end = length > 0 ? offset + length - 1 : undefined;
    const stream = fs.createReadStream('', { fd, start: offset, end, highWaterMark: FILE_CHUNK });
    stream.on('data', (chunk) => {
      ex.bytes += chunk.length;
    });
    sendStream(stream, ex.res, done);
  });
}
