import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FrameBatcher, FrameDecoder, FrameError, MAX_FRAME, encodeFrame, packParts, packr } from '../../protocol/frame-codec.js';

interface Vector {
  name: string;
  value: unknown;
  frame: string;
}
const vectors = (JSON.parse(readFileSync(new URL('../../../protocol/vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;

function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.$bin === 'string') return Buffer.from(o.$bin, 'hex');
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, fromJson(x)]));
  }
  return v;
}

describe('frame codec', () => {
  it('encodes every shared vector byte for byte as Python does', () => {
    for (const v of vectors) assert.equal(encodeFrame(fromJson(v.value)).toString('hex'), v.frame, v.name);
  });

  it('decodes every vector, split at every byte boundary', () => {
    for (const v of vectors) {
      const frame = Buffer.from(v.frame, 'hex');
      for (let cut = 0; cut <= frame.length; cut++) {
        const d = new FrameDecoder();
        const got = [...d.push(frame.subarray(0, cut)), ...d.push(frame.subarray(cut))];
        assert.deepEqual(got, [fromJson(v.value)], `${v.name} cut at ${cut}`);
      }
    }
  });

  it('refuses a frame longer than MAX_FRAME', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME + 1);
    assert.throws(() => new FrameDecoder().push(head), FrameError);
  });

  it('batches the frames of one event-loop turn into one write', async () => {
    const writes: Buffer[] = [];
    const b = new FrameBatcher({ write: (d) => (writes.push(d), true) });
    for (let i = 0; i < 100; i++) b.send([20, i]);
    assert.equal(writes.length, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 1);
    const got = new FrameDecoder().push(writes[0]!);
    assert.equal(got.length, 100);
    assert.deepEqual(got[99], [20, 99]);
  });

  it('writes a large payload without copying it, in exactly the bytes of packing it whole', () => {
    for (const size of [4096, 70_000]) {
      const payload = Buffer.alloc(size, 7);
      const value = [2, 12345, payload];
      const parts = packParts(value);
      assert.equal(parts.length, 3);
      assert.equal(parts[2], payload, 'the payload buffer itself, not a copy');
      assert.deepEqual(Buffer.concat(parts), packr.pack(value), `${size} bytes`);
    }
    assert.equal(packParts([2, 1, Buffer.alloc(100)]).length, 1, 'small payloads are packed whole');
  });

  it('hands a corkable sink the buffers as they are, in one corked batch', async () => {
    const writes: Buffer[] = [];
    let corked = 0;
    const b = new FrameBatcher({ write: (d) => (writes.push(d), true), cork: () => corked++, uncork: () => corked-- });
    const body = Buffer.alloc(65_536, 1);
    b.send([2, 1, body]);
    b.send([3, 1]);
    await new Promise((r) => setImmediate(r));
    assert.equal(corked, 0);
    assert.ok(writes.includes(body), 'the body went to the sink uncopied');
    assert.deepEqual(new FrameDecoder().push(Buffer.concat(writes)), [[2, 1, body], [3, 1]]);
  });

  it('refuses an empty frame', () => {
    assert.throws(() => new FrameDecoder().push(Buffer.alloc(4)), FrameError);
    const d = new FrameDecoder();
    d.push(Buffer.alloc(2));
    assert.throws(() => d.push(Buffer.alloc(2)), FrameError);
  });

  it('decodes frames split across reads at any point, copying only the frames that straddle a read', () => {
    // Frames of 1 B to 20 KB payloads, read in pieces of every size from 1 byte to 64 KB.
    const values = Array.from({ length: 40 }, (_, i) => [3, i, Buffer.alloc((i * 7919) % 20_000, i)]);
    const stream = Buffer.concat(values.map((v) => encodeFrame(v)));
    for (const size of [1, 3, 4, 5, 7, 100, 4096, 10_000, 65_536]) {
      const d = new FrameDecoder();
      const got: unknown[] = [];
      for (let off = 0; off < stream.length; off += size) got.push(...d.push(stream.subarray(off, off + size)));
      assert.deepEqual(got, values, `reads of ${size} bytes`);
    }
    // A frame whole in its read is decoded in place: its payload is a view of that read, not a copy. (Payloads
    // of 10 KB: Node pools smaller buffers in shared 8 KB slabs, where `.buffer` says nothing.)
    const frame = (i: number): Buffer => encodeFrame([3, i, Buffer.alloc(10_000, i)]);
    const read = Buffer.concat([frame(1), frame(2).subarray(0, 5000)]);
    const d = new FrameDecoder();
    const [first] = d.push(read) as [[number, number, Buffer]];
    assert.equal(first[2].buffer, read.buffer);
    // The frame that straddled is joined from its own pieces, and the next read's whole frame stays a view of it.
    const next = Buffer.concat([frame(2).subarray(5000), frame(3)]);
    const [second, third] = d.push(next) as [[number, number, Buffer], [number, number, Buffer]];
    assert.deepEqual(second, [3, 2, Buffer.alloc(10_000, 2)]);
    assert.notEqual(second[2].buffer, next.buffer);
    assert.equal(third[2].buffer, next.buffer);
  });

  it('joins a large frame once, however many reads it arrives in', () => {
    const body = Buffer.alloc(300_000, 3);
    const frames = Buffer.concat([encodeFrame([21, 9, body]), encodeFrame([22, 9])]);
    const d = new FrameDecoder();
    const got: unknown[] = [];
    for (let off = 0; off < frames.length; off += 1000) got.push(...d.push(frames.subarray(off, off + 1000)));
    assert.deepEqual(got, [[21, 9, body], [22, 9]]);
  });
});
