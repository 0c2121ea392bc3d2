/**
 * `spawning fleet status|reload|drain`: commands to a fleet over NATS. Each
 * connects once (no retry loop: a command should fail fast and say why),
 * reads the registry or sends requests, and exits 0 or with FLEET_ERROR.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { createActor } from 'xstate';
import { fleetRolloutMachine, untouched } from '../../machines/fleet-rollout.js';
import { decodeReply, encodeFleet, subjects, type FleetCommand, type FleetReply, type NodeReport } from '../../protocol/fleet-messages.js';
import { resolveArgs } from '../config/layers.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { ConfigError, FleetError } from '../errors.js';
import { connectOnce, describeNatsError } from '../fleet/connection.js';
import { openRegistry, readRegistry } from '../fleet/registry.js';

export interface FleetIo {
  out: (text: string) => void;
  log: (line: string) => void;
}

export function fleetHelp(): string {
  const lines = [
    'usage: spawning fleet status --nats URL [--fleet NAME] [--json]',
    '       spawning fleet reload --nats URL [--fleet NAME] [--batch N] [--wait SECONDS]',
    '       spawning fleet drain NODE --nats URL [--fleet NAME] [--grace SECONDS]',
    '',
    'options:',
  ];
  for (const s of SETTINGS) {
    if (s.scope !== 'fleet' && s.scope !== 'both') continue;
    lines.push(`  ${(s.flags.join(', ') + (s.meta ? ` ${s.meta}` : '')).padEnd(30)} ${s.describe}`);
  }
  return lines.join('\n') + '\n';
}

export async function fleetCommand(argv: readonly string[], io: FleetIo): Promise<number> {
  const [command, ...rest] = argv;
  // The same --config file and SPAWNING_* variables as the server (NATS address, credentials).
  const { settings, args } = resolveArgs(rest, process.env, 'fleet');
  if (settings.help || command === undefined || command === '--help' || command === '-h') {
    io.out(fleetHelp());
    return 0;
  }
  if (!['status', 'reload', 'drain'].includes(command)) throw new ConfigError(`unknown fleet command '${command}' (status, reload, drain)`);
  const expected = command === 'drain' ? 1 : 0;
  if (args.length !== expected) {
    throw new ConfigError(command === 'drain' ? 'spawning fleet drain needs one NODE name' : `spawning fleet ${command} takes no arguments, got '${args.join(' ')}'`);
  }
  const nc = await connectOnce(settings, `spawning fleet ${command}`);
  try {
    if (command === 'status') return await status(nc, settings, io);
    if (command === 'reload') return await reload(nc, settings, io);
    return await drain(nc, settings, args[0]!, io);
  } finally {
    await nc.close().catch(() => {});
  }
}

async function members(nc: NatsConnection, fleet: string): Promise<NodeReport[]> {
  const kv = await openRegistry(nc, fleet).catch((err: unknown) => {
    throw new FleetError(`cannot read fleet '${fleet}': ${describeNatsError(err)} (is JetStream enabled on the NATS server?)`);
  });
  return kv ? readRegistry(nc, kv, fleet) : [];
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)}M`;

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

export function statusTable(reports: readonly NodeReport[], now = Date.now()): string {
  const rows = [['NODE', 'STATE', 'GEN', 'CHILDREN', 'REQ/S', 'RSS', 'PID', 'HOST', 'VERSION', 'UP', 'SEEN', 'URL']];
  for (const r of reports) {
    rows.push([
      r.node,
      r.state,
      String(r.generation),
      `${r.children.ready}/${r.children.configured}`,
      r.requestsPerSecond.toFixed(1),
      mb(r.rssBytes),
      String(r.pid),
      r.host,
      r.version,
      age(now - r.startedAt),
      `${age(now - r.updatedAt)} ago`,
      r.url,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

async function status(nc: NatsConnection, settings: Settings, io: FleetIo): Promise<number> {
  const reports = await members(nc, settings.fleet);
  if (settings.json) {
    io.out(JSON.stringify(reports, null, 2) + '\n');
    return 0;
  }
  if (reports.length === 0) {
    io.out(`fleet '${settings.fleet}' has no members\n`);
    return 0;
  }
  io.out(statusTable(reports));
  return 0;
}

/** One command to one node; the reply, or a FleetError saying why there is none. */
async function request(nc: NatsConnection, fleet: string, node: string, command: FleetCommand, timeoutMs: number): Promise<FleetReply> {
  try {
    const msg = await nc.request(subjects.command(fleet, node), encodeFleet(command), { timeout: timeoutMs });
    return decodeReply(msg.data);
  } catch (err) {
    const text = describeNatsError(err);
    if (/no responders/i.test(text)) throw new FleetError(`no controller named '${node}' answers in fleet '${fleet}' (no responders on ${subjects.command(fleet, node)})`);
    if (/timeout/i.test(text)) throw new FleetError(`'${node}' did not answer within ${timeoutMs / 1000} s`);
    throw new FleetError(`'${node}': ${text}`);
  }
}

async function reload(nc: NatsConnection, settings: Settings, io: FleetIo): Promise<number> {
  const all = await members(nc, settings.fleet);
  const skipped = all.filter((r) => r.state === 'draining' || r.state === 'stopping');
  for (const r of skipped) io.log(`spawning: fleet reload: skipping ${r.node} (${r.state})`);
  const nodes = all.filter((r) => !skipped.includes(r)).map((r) => r.node);
  if (nodes.length === 0) throw new FleetError(`fleet '${settings.fleet}' has no members to reload`);
  const before = new Map(all.map((r) => [r.node, r.generation]));
  const timeoutMs = settings.wait * 1000;

  const actor = createActor(
    fleetRolloutMachine.provide({
      actions: {
        announceBatch: (_, { nodes: batch, index, of }) =>
          io.log(`spawning: fleet reload: batch ${index}/${of}${index === 1 && of > 1 ? ' (canary)' : ''}: ${batch.join(', ')}`),
        reloadNode: (_, { node }) => {
          request(nc, settings.fleet, node, { t: 'reload' }, timeoutMs).then(
            (reply) => {
              if (reply.t === 'reloaded') {
                io.log(`spawning: fleet reload: ${node}: generation ${reply.generation} ready (was ${before.get(node) ?? '?'})`);
                actor.send({ type: 'NODE_RELOADED', node, generation: reply.generation });
              } else if (reply.t === 'reload-failed') {
                actor.send({ type: 'NODE_FAILED', node, error: `the new code cannot load: ${reply.error}` });
              } else {
                actor.send({ type: 'NODE_FAILED', node, error: reply.t === 'error' ? reply.message : `unexpected reply '${reply.t}'` });
              }
            },
            (err: Error) => actor.send({ type: 'NODE_FAILED', node, error: err.message }),
          );
        },
      },
    }),
    { input: { nodes, batch: settings.batch } },
  );
  const done = new Promise<void>((resolve) => actor.subscribe((s) => s.status === 'done' && resolve()));
  actor.start();
  actor.send({ type: 'START' });
  await done;
  const { context } = actor.getSnapshot();
  const failures = context.outcomes.filter((o) => !o.ok);
  if (failures.length === 0) {
    io.log(`spawning: fleet reload: ${nodes.length} host${nodes.length === 1 ? '' : 's'} reloaded`);
    return 0;
  }
  const kept = [...untouched(context), ...failures.map((f) => f.node)];
  throw new FleetError(
    `fleet reload stopped at ${failures.map((f) => `${f.node}: ${f.error}`).join('; ')}; ${kept.join(', ')} keep${kept.length === 1 ? 's' : ''} the old code`,
  );
}

async function drain(nc: NatsConnection, settings: Settings, node: string, io: FleetIo): Promise<number> {
  const reply = await request(nc, settings.fleet, node, { t: 'drain', graceMs: settings.grace * 1000 }, settings.wait * 1000);
  if (reply.t !== 'draining') throw new FleetError(`'${node}' refused to drain: ${reply.t === 'error' ? reply.message : reply.t}`);
  io.log(`spawning: fleet drain: ${node} is draining: /healthz answers 503, it stops accepting in ${reply.graceMs / 1000} s`);
  return 0;
}
