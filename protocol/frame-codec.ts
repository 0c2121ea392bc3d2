/**
 * Length-prefixed msgpack frames, batched per event-loop turn.
 *
 *   +--------+--------+--------+--------+----------------------+
 *   |  payload length N (uint32, big-endian) | N bytes msgpack  |
 *   +--------+--------+--------+--------+----------------------+
 *
 * The msgpack profile avoids msgpackr's records extension, which Python's
 * msgpack cannot read.
 */
import { Packr } from 'msgpackr';

export const MAX_FRAME = 64 * 1024 * 1024;

export const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  encodeUndefinedAsNil: true,
  int64AsType: 'number',
  // fixmap/map16/map32 by size, as Python's msgpack writes, so both ends emit identical bytes.
  variableMapSize: true,
});

export class FrameError extends Error {
  readonly code = 'SPAWNING_ERR_FRAME';
}

/** Encodes one value as a complete frame (prefix included). */
export function encodeFrame(value: unknown): Buffer {
  const body = packr.pack(value);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** Accumulates bytes and yields every complete frame's decoded value. */
export class FrameDecoder {
  #pending: Buffer | null = null;

  /** Returns the values of all complete frames in `chunk` (plus leftovers). */
  push(chunk: Buffer): unknown[] {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    const out: unknown[] = [];
    let off = 0;
    while (buf.length - off >= 4) {
      const n = buf.readUInt32BE(off);
      if (n > MAX_FRAME) throw new FrameError(`frame of ${n} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (buf.length - off - 4 < n) break;
      out.push(packr.unpack(buf.subarray(off + 4, off + 4 + n)));
      off += 4 + n;
    }
    this.#pending = off === buf.length ? null : Buffer.from(buf.subarray(off));
    return out;
  }
}

/** Something frames can be written to: a socket or pipe. */
export interface FrameSink {
  write(data: Buffer): boolean;
}

/**
 * Queues frames and writes them with one write per event-loop turn, so a
 * burst of small messages costs one syscall.
 */
export class FrameBatcher {
  #queue: Buffer[] = [];
  #size = 0;
  #scheduled = false;
  readonly #sink: FrameSink;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  send(value: unknown): void {
    const body = packr.pack(value);
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(body.length, 0);
    this.#queue.push(head, body);
    this.#size += 4 + body.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes everything queued now. Returns the sink's backpressure flag. */
  readonly flush = (): boolean => {
    this.#scheduled = false;
    if (this.#queue.length === 0) return true;
    const data = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue, this.#size);
    this.#queue = [];
    this.#size = 0;
    return this.#sink.write(data);
  };
}
