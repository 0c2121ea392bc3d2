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
  const parts = packParts(value);
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/**
 * Accumulates bytes and yields every complete frame's decoded value. Frames
 * that lie whole in one read are decoded in place. Only a frame that spans
 * reads is joined, once it is all there: its own pieces, not the reads
 * around it (a 1 MB frame arriving in 64 KB reads is copied once, and a
 * 10 KB response that straddles two reads costs a 10 KB copy, not the 64 KB
 * read after it).
 */
export class FrameDecoder {
  /** The pieces of a frame begun in earlier reads. */
  #pending: Buffer[] = [];
  #pendingSize = 0;
  /** Its size with the prefix, once the prefix is known; 4 until then. */
  #need = 4;

  /** Returns the values of all complete frames in `chunk` (plus leftovers). */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let off = 0;
    while (this.#pendingSize > 0) {
      const take = Math.min(this.#need - this.#pendingSize, chunk.length - off);
      this.#pending.push(chunk.subarray(off, off + take));
      this.#pendingSize += take;
      off += take;
      if (this.#pendingSize < this.#need) return out;
      const joined = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingSize);
      if (this.#need === 4) {
        // Only the prefix was missing: now the frame's size is known.
        this.#need = 4 + frameSize(joined, 0);
        this.#pending = [joined];
        continue;
      }
      out.push(packr.unpack(joined.subarray(4)));
      this.#pending = [];
      this.#pendingSize = 0;
      this.#need = 4;
    }
    while (chunk.length - off >= 4) {
      const n = frameSize(chunk, off);
      if (chunk.length - off - 4 < n) break;
      out.push(packr.unpack(chunk.subarray(off + 4, off + 4 + n)));
      off += 4 + n;
    }
    if (off < chunk.length) {
      // The rest stays a view of this read's bytes: socket chunks are never reused.
      this.#pending = [chunk.subarray(off)];
      this.#pendingSize = chunk.length - off;
      this.#need = this.#pendingSize >= 4 ? 4 + frameSize(chunk, off) : 4;
    }
    return out;
  }
}

/** The payload length in the prefix at `off`: refused when past MAX_FRAME, or 0 (a frame holds one msgpack value, at least a byte). */
function frameSize(buf: Buffer, off: number): number {
  const n = buf.readUInt32BE(off);
  if (n > MAX_FRAME) throw new FrameError(`frame of ${n} bytes exceeds the ${MAX_FRAME}-byte limit`);
  if (n === 0) throw new FrameError('empty frame: a frame holds one msgpack value');
  return n;
}

/** Something frames can be written to: a socket or pipe (cork/uncork let several buffers go in one writev). */
export interface FrameSink {
  write(data: Buffer): boolean;
  cork?(): void;
  uncork?(): void;
}

/** A payload from this size on is written as it is rather than copied into the packed frame. */
const ZERO_COPY_MIN = 4096;
const EMPTY = Buffer.alloc(0);

/** msgpack's bin header for `n` bytes (n >= 256: bin16 or bin32, as msgpackr and Python write them). */
function binHeader(n: number): Buffer {
  if (n < 0x10000) {
    const h = Buffer.allocUnsafe(3);
    h[0] = 0xc5;
    h.writeUInt16BE(n, 1);
    return h;
  }
  const h = Buffer.allocUnsafe(5);
  h[0] = 0xc6;
  h.writeUInt32BE(n, 1);
  return h;
}

/**
 * A value's msgpack bytes as one or more buffers. An array ending in a large
 * Buffer (a BODY or CHUNK frame) is packed with an empty placeholder whose
 * 2-byte bin8 header is then swapped for the real one, so the payload itself
 * is never copied: the same bytes as packing it whole.
 */
export function packParts(value: unknown): Buffer[] {
  if (Array.isArray(value) && value.length > 0) {
    const last: unknown = value[value.length - 1];
    if (Buffer.isBuffer(last) && last.length >= ZERO_COPY_MIN) {
      const prefix = packr.pack([...value.slice(0, -1), EMPTY]);
      return [prefix.subarray(0, prefix.length - 2), binHeader(last.length), last];
    }
  }
  return [packr.pack(value)];
}

/** The buffers as one: the buffer itself when there is only one. */
const joined = (buffers: Buffer[], size?: number): Buffer => (buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers, size));

/**
 * Queues frames and writes them with one write per event-loop turn, so a
 * burst of small messages costs one syscall. Small frames are joined into one
 * buffer (one write() through the stream is far cheaper than one per frame);
 * a batch holding a large payload goes to a corkable sink as runs of joined
 * small frames around the payloads, uncopied (one writev).
 */
export class FrameBatcher {
  #queue: Buffer[] = [];
  #size = 0;
  /** The queue holds a payload of ZERO_COPY_MIN bytes or more. */
  #large = false;
  #scheduled = false;
  readonly #sink: FrameSink;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  send(value: unknown): void {
    const parts = packParts(value);
    let length = 0;
    for (const p of parts) length += p.length;
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(length, 0);
    this.#queue.push(head, ...parts);
    this.#size += 4 + length;
    if (parts.length > 1) this.#large = true;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes everything queued now. Returns the sink's backpressure flag. */
  readonly flush = (): boolean => {
    this.#scheduled = false;
    const queue = this.#queue;
    if (queue.length === 0) return true;
    this.#queue = [];
    const size = this.#size;
    this.#size = 0;
    const large = this.#large;
    this.#large = false;
    const sink = this.#sink;
    if (!large || !sink.cork || !sink.uncork) return sink.write(joined(queue, size));
    sink.cork();
    let ok = true;
    let run: Buffer[] = [];
    for (const b of queue) {
      if (b.length < ZERO_COPY_MIN) {
        run.push(b);
        continue;
      }
      if (run.length > 0) ok = sink.write(joined(run));
      run = [];
      ok = sink.write(b);
    }
    if (run.length > 0) ok = sink.write(joined(run));
    sink.uncork();
    return ok;
  };
}
