/**
 * What ties the status service to the controller: the settings it shows and
 * the health it reports as the controller's machine moves.
 */
import type { ControllerActor } from '../../machines/controller.js';
import type { ParsedArgs } from '../config/parse-args.js';
import { snakeCase } from '../config/process-config.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import type { StatusService } from './service.js';
import { HISTORY_STEP_MS, type StatusStore } from './status-store.js';

export const SECRET_SETTINGS = new Set<keyof Settings>(['natsToken', 'natsPassword']);

/** The settings as status.json shows them: snake_case, server settings only, secrets redacted. */
export function publicConfig(parsed: ParsedArgs): Record<string, unknown> {
  const out: Record<string, unknown> = { args: parsed.args };
  for (const s of SETTINGS) {
    if (s.section === 'Info' || s.scope === 'fleet') continue;
    const value = parsed.settings[s.key];
    out[snakeCase(s.key)] = SECRET_SETTINGS.has(s.key) && value !== null ? '(set)' : value;
  }
  return out;
}

/** /healthz follows the controller: ready counts while it runs, 503 from the moment it stops. */
export function followHealth(actor: ControllerActor, status: StatusService, store: StatusStore): void {
  let last = '';
  const follow = (snapshot: ReturnType<ControllerActor['getSnapshot']>): void => {
    if (snapshot.matches('stopping') || snapshot.status === 'done') {
      if (last !== 'stopping') store.record('stopping', 'stopping: finishing in-flight requests');
      last = 'stopping';
      status.stopping();
      return;
    }
    const ready = snapshot.context.children.filter((c) => c.state === 'ready' && c.generation === snapshot.context.generation).length;
    const key = `${ready}/${snapshot.context.processes}`;
    if (key === last) return;
    last = key;
    status.children(ready, snapshot.context.processes);
  };
  actor.subscribe(follow);
  // A service that starts after the controller (an upgrade's successor) learns the state now.
  if (actor.getSnapshot().status === 'active') follow(actor.getSnapshot());
  const sampler = setInterval(() => store.sample(process.memoryUsage.rss(), actor.getSnapshot().context.children), HISTORY_STEP_MS);
  sampler.unref();
}
