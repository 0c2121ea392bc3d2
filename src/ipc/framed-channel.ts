/** A msgpack frame channel over a stream socket (control and worker channels). */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { FrameBatcher, FrameDecoder } from '../../protocol/frame-codec.js';

export interface FramedChannelEvents<In> {
  message: [In];
  close: [];
  error: [Error];
}

export class FramedChannel<In, Out> extends EventEmitter<FramedChannelEvents<In>> {
  readonly #socket: Socket;
  readonly #batcher: FrameBatcher;
  readonly #decoder = new FrameDecoder();
  #closed = false;

  constructor(socket: Socket) {
    super();
    this.#socket = socket;
    this.#batcher = new FrameBatcher(socket);
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = this.#decoder.push(chunk);
      } catch (err) {
        this.emit('error', err as Error);
        socket.destroy();
        return;
      }
      for (const m of messages) this.emit('message', m as In);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#closed = true;
      this.emit('close');
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: Out): void {
    if (!this.#closed) this.#batcher.send(message);
  }

  /** Writes what is queued now (before an exit, say). */
  flush(): void {
    if (!this.#closed) this.#batcher.flush();
  }

  close(): void {
    this.flush();
    this.#socket.end();
  }
}
