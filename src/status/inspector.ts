/**
 * --inspect URL: every actor's events go to an xstate inspector over a
 * WebSocket, in the Stately inspector's own format (@statelyai/inspect's
 * createInspector). Its WebSocket adapter is not used: it reconnects forever,
 * even after stop(), and re-sends every buffered event on each reconnect. This
 * one keeps a bounded buffer while disconnected, retries with a capped
 * back-off, and stops retrying for good when the process shuts down.
 */
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import WebSocket from 'ws';
import type { InspectionEvent, Observer } from 'xstate';
import { backoff } from '../../machines/backoff.js';

export type Inspect = Observer<InspectionEvent>;

/** Events kept while the inspector is unreachable; the oldest go first. */
const BUFFER_LIMIT = 1000;
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;

export interface Inspector {
  readonly inspect: Inspect;
  stop(): void;
}

class ReconnectingSocket {
  #ws: WebSocket | null = null;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #stopped = false;
  #warned = false;
  readonly #buffer: string[] = [];

  constructor(
    private readonly url: string,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    if (this.#stopped || this.#ws) return;
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    ws.on('open', () => {
      this.#attempt = 0;
      if (this.#warned) this.log(`spawning: inspector ${this.url} connected`);
      this.#warned = false;
      for (const data of this.#buffer.splice(0)) ws.send(data);
    });
    ws.on('error', (err) => {
      if (!this.#warned) this.log(`spawning: inspector ${this.url}: ${err.message}; retrying`);
      this.#warned = true;
    });
    ws.on('close', () => {
      this.#ws = null;
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.start(), backoff(this.#attempt++, RETRY_BASE_MS, RETRY_MAX_MS));
      // Retrying must never keep a stopping process alive.
      this.#timer.unref();
    });
  }

  send(event: StatelyInspectionEvent): void {
    let data: string;
    try {
      data = JSON.stringify(event);
    } catch {
      return; // an event carrying something cyclic or a BigInt: not worth the process
    }
    if (this.#ws?.readyState === WebSocket.OPEN) {
      this.#ws.send(data);
      return;
    }
    this.#buffer.push(data);
    if (this.#buffer.length > BUFFER_LIMIT) this.#buffer.shift();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#ws?.terminate();
    this.#ws = null;
  }
}

export function startInspector(url: string, log: (line: string) => void): Inspector {
  const socket = new ReconnectingSocket(url, log);
  const inspector = createInspector(socket);
  socket.start();
  return {
    inspect: { next: (event) => inspector.inspect.next?.(event) },
    stop: () => socket.stop(),
  };
}
