/** A readable (a file) into a response, paced by the response's backpressure. */
import type { Readable } from 'node:stream';
import type { FrontResponse } from './front.js';

/**
 * Writes `source` into `res` without ending it: a write() that reports
 * backed-up output pauses the source until 'drain'. `done` runs once, at the
 * source's end or error, or when the response closes first (the client left;
 * the source is destroyed then, so its file is closed instead of held by a
 * stream paused for a 'drain' that never comes).
 */
export function sendStream(source: Readable, res: FrontResponse, done: (err: Error | null) => void): void {
  let finished = false;
  const finish = (err: Error | null): void => {
    if (finished) return;
    finished = true;
    done(err);
  };
  source.on('data', (chunk: Buffer) => {
    if (finished) return;
    if (!res.write(chunk)) {
      source.pause();
      res.once('drain', () => source.resume());
    }
  });
  source.on('error', (err) => finish(err));
  source.on('end', () => finish(null));
  res.on('close', () => {
    if (finished) return;
    source.destroy();
    finish(null);
  });
}
