/**
 * Every machine's definition, for `spawning machines` and the status page:
 * Mermaid text (what the page draws, with the live states highlighted) and
 * xstate's JSON form of the definition.
 */
import type { AnyStateMachine } from 'xstate';
import { childMachine } from '../../machines/child.js';
import { controllerMachine } from '../../machines/controller.js';
import { fleetMemberMachine } from '../../machines/fleet-member.js';
import { fleetRolloutMachine } from '../../machines/fleet-rollout.js';
import { toMermaid } from '../../machines/diagram.js';
import { reloaderMachine } from '../../machines/reloader.js';
import { statusMachine } from '../../machines/status.js';

export const MACHINES: Record<string, AnyStateMachine> = {
  controller: controllerMachine,
  child: childMachine,
  reloader: reloaderMachine,
  status: statusMachine,
  'fleet-member': fleetMemberMachine,
  'fleet-rollout': fleetRolloutMachine,
};

export interface MachineDescription {
  name: string;
  mermaid: string;
  definition: unknown;
}

export function machineCatalog(): MachineDescription[] {
  return Object.entries(MACHINES).map(([name, machine]) => ({ name, mermaid: toMermaid(machine), definition: machine.root.definition }));
}
