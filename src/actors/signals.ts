/**
 * OS signals → controller events. A handler only sends an event (gunicorn's
 * arbiter habit): every decision stays in machines/controller.ts, and a signal
 * arriving mid-transition is simply the next event in the actor's queue.
 */
import type { ControllerEvent } from '../../machines/controller.js';

/** Signals that are not machine events but side requests (reopen the access logs). */
export interface SignalSink {
  send(event: ControllerEvent): void;
  reopenLogs(): void;
}

/** Which event each signal becomes; SIGINT is STOP the first time, STOP_NOW after. */
export function eventForSignal(signal: NodeJS.Signals, interruptsSoFar: number): ControllerEvent | null {
  switch (signal) {
    case 'SIGTERM':
      return { type: 'STOP' };
    case 'SIGINT':
      return interruptsSoFar > 0 ? { type: 'STOP_NOW' } : { type: 'STOP' };
    case 'SIGHUP':
      return { type: 'RELOAD' };
    case 'SIGTTIN':
      return { type: 'INCREASE' };
    case 'SIGTTOU':
      return { type: 'DECREASE' };
    case 'SIGUSR2':
      return { type: 'UPGRADE' };
    default:
      return null;
  }
}

const HANDLED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2'];

/** Installs the handlers; returns a function that removes them. */
export function forwardSignals(sink: SignalSink, target: NodeJS.Process = process): () => void {
  let interrupts = 0;
  const handlers = HANDLED.map((signal) => {
    const handler = (): void => {
      if (signal === 'SIGUSR1') return sink.reopenLogs();
      const event = eventForSignal(signal, interrupts);
      if (signal === 'SIGINT') interrupts++;
      if (event) sink.send(event);
    };
    target.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) target.off(signal, handler);
  };
}
