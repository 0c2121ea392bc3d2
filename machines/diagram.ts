/**
 * Mermaid state diagrams generated from the machine definitions themselves,
 * so the pictures in ARCHITECTURE.md cannot drift from the code.
 */
import type { AnyStateMachine, AnyStateNode, StateValue } from 'xstate';

const name = (node: AnyStateNode): string => node.path.join('_') || node.machine.id;

function render(node: AnyStateNode, indent: string, out: string[]): void {
  const children = Object.values(node.states) as AnyStateNode[];
  if (children.length === 0) return;
  const initial = node.config.initial;
  if (typeof initial === 'string') out.push(`${indent}[*] --> ${name(node.states[initial] as AnyStateNode)}`);
  for (const child of children) {
    if (Object.keys(child.states).length > 0) {
      out.push(`${indent}state ${name(child)} {`);
      render(child, indent + '  ', out);
      out.push(`${indent}}`);
    } else {
      out.push(`${indent}state "${child.key}" as ${name(child)}`);
    }
    if (child.type === 'final') out.push(`${indent}${name(child)} --> [*]`);
    const edges = new Map<string, Set<string>>();
    for (const [event, transitions] of child.transitions) {
      for (const t of transitions) {
        for (const target of t.target ?? []) {
          const key = name(target);
          if (key === name(child) && !t.reenter) continue;
          edges.set(key, (edges.get(key) ?? new Set()).add(event === '' ? 'always' : event));
        }
      }
    }
    for (const t of child.always ?? []) {
      for (const target of t.target ?? []) edges.set(name(target), (edges.get(name(target)) ?? new Set()).add('[always]'));
    }
    for (const [target, events] of edges) out.push(`${indent}${name(child)} --> ${target}: ${[...events].join(', ')}`);
  }
}

export function toMermaid(machine: AnyStateMachine): string {
  const out = ['stateDiagram-v2'];
  // Transitions declared on the root apply in every state.
  for (const [event, transitions] of machine.root.transitions) {
    for (const t of transitions) {
      for (const target of t.target ?? []) {
        out.push('  state "(any state)" as any_state', `  any_state --> ${name(target)}: ${event}`);
      }
    }
  }
  render(machine.root, '  ', out);
  return out.join('\n');
}

/** The active leaf states of a snapshot value, each named as toMermaid names it (`active_running_steady`). */
export function leafStates(value: StateValue, prefix: string[] = []): string[] {
  if (typeof value === 'string') return [[...prefix, value].join('_')];
  return Object.entries(value).flatMap(([key, inner]) => (inner === undefined ? [] : leafStates(inner, [...prefix, key])));
}
