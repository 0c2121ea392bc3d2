/**
 * `spawning fleet status|reload|drain`: commands to a fleet over NATS. Each
 * connects once (no retry loop: a command should fail fast and say why),
 * reads the registry or sends requests, and exits 0 or with FLEET_ERROR.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { createActor } from 'xstate';
import { fleetRolloutMachine, untouched, type NodeOutcome } from '../../machines/fleet-rollout.js';
import { decodeReply, encodeFleet, subjects, type FleetCommand, type FleetReply, type NodeReport } from '../../protocol/fleet-messages.js';
import { resolveArgs } from '../config/layers.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { ConfigError, FleetError } from '../errors.js';
import { connectOnce, describeNatsError, isTransientNatsError } from '../fleet/connection.js';
import { openRegistry, openRoster, readRegistry, readRoster } from '../fleet/registry.js';

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

/** How long a registry read keeps retrying while the cluster elects a new leader or the client reconnects. */
const READ_RETRY_MS = 20_000;
/** Each JetStream request of a registry read: short, since a lost one is retried. */
const READ_TRY_MS = 2_000;
/** How long the reload report waits for a host still reloading, and how long each host gets to answer `report`. */
const SETTLE_MS = 15_000;
/** A fleet read empty is read again this long before `fleet reload` believes it (see `rolloutMembers`). */
const EMPTY_RETRY_MS = 5_000;
const REPORT_TIMEOUT_MS = 2_000;

/** Retries what failed for a reason that passes by itself (isTransientNatsError) until the deadline. */
async function retrying<T>(deadlineMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline || !isTransientNatsError(err)) throw err;
      await sleep(Math.min(1000, 100 * 2 ** attempt));
    }
  }
}

async function members(nc: NatsConnection, fleet: string): Promise<NodeReport[]> {
  try {
    return await retrying(READ_RETRY_MS, async () => {
      const kv = await openRegistry(nc, fleet, READ_TRY_MS);
      return kv ? readRegistry(nc, kv, fleet, READ_TRY_MS) : [];
    });
  } catch (err) {
    throw new FleetError(`cannot read fleet '${fleet}': ${describeNatsError(err)} (is JetStream enabled on the NATS server?)`);
  }
}

/**
 * Hosts the roster remembers and the registry no longer lists: their entries
 * expired (a host lost, cut off from NATS, killed) within the roster's
 * retention. Null when the roster cannot be read: then nobody can say.
 */
async function droppedOut(nc: NatsConnection, fleet: string, live: readonly NodeReport[]): Promise<NodeReport[] | null> {
  try {
    const kv = await openRoster(nc, fleet, READ_TRY_MS);
    if (!kv) return [];
    const names = new Set(live.map((r) => r.node));
    return (await readRoster(nc, kv, fleet, READ_TRY_MS)).filter((r) => !names.has(r.node));
  } catch {
    return null;
  }
}

/** `NODE (generation N, last seen 40s ago)`, for hosts that dropped out. */
const lastSeen = (r: NodeReport, now = Date.now()): string => `${r.node} (generation ${r.generation}, last seen ${age(now - r.updatedAt)} ago)`;

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
  const lost = await droppedOut(nc, settings.fleet, reports);
  if (reports.length === 0) io.out(`fleet '${settings.fleet}' has no members\n`);
  else io.out(statusTable(reports));
  if (lost?.length) io.out(`dropped out of the registry lately: ${lost.map((r) => lastSeen(r)).join(', ')}\n`);
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

/** What a host says of itself now (`report`), or null when it does not answer. */
async function askReport(nc: NatsConnection, fleet: string, node: string, timeoutMs = REPORT_TIMEOUT_MS): Promise<NodeReport | null> {
  try {
    const reply = await request(nc, fleet, node, { t: 'report' }, timeoutMs);
    return reply.t === 'report' ? reply.report : null;
  } catch {
    return null;
  }
}

/**
 * The host's own word once it is not reloading any more: a reload asked of it
 * runs to its end (new generation serving, or the old one kept) whatever
 * happens to the request's answer. Null if it does not answer before the deadline.
 */
async function settled(nc: NatsConnection, fleet: string, node: string, deadlineMs: number): Promise<NodeReport | null> {
  const deadline = Date.now() + deadlineMs;
  let last: NodeReport | null = null;
  while (Date.now() < deadline) {
    const r = await askReport(nc, fleet, node, Math.min(REPORT_TIMEOUT_MS, Math.max(1, deadline - Date.now())));
    if (r) {
      last = r;
      if (r.state !== 'reloading' && r.state !== 'starting') return r;
    }
    await sleep(250);
  }
  return last && last.state !== 'reloading' ? last : null;
}

/** One line per host after a rollout that stopped: the generation each serves, and why. */
export function rolloutReport(
  nodes: readonly string[],
  before: ReadonlyMap<string, number>,
  outcomes: readonly NodeOutcome[],
  now: ReadonlyMap<string, NodeReport | null>,
): string[] {
  return nodes.map((node) => {
    const outcome = outcomes.find((o) => o.node === node);
    const was = before.get(node);
    const r = now.get(node) ?? null;
    const generation = r ? `generation ${r.generation}` : `generation unknown (unreachable; ${was ?? '?'} before the rollout)`;
    const why = !outcome ? 'not asked' : outcome.ok ? `reloaded from ${was ?? '?'}` : `failed: ${outcome.error}`;
    return `${node}: ${generation}${r && r.state !== 'serving' ? `, ${r.state}` : ''} (${why})`;
  });
}

/**
 * The members a rollout starts from. Just after a NATS node comes back, the registry's stream can answer
 * "not found" for a moment while JetStream recovers it, which reads as an empty fleet: a reload asked then
 * would end with "no members", so an empty read is tried again for a few seconds first.
 */
async function rolloutMembers(nc: NatsConnection, fleet: string): Promise<NodeReport[]> {
  const end = Date.now() + EMPTY_RETRY_MS;
  let all = await members(nc, fleet);
  while (all.length === 0 && Date.now() < end) {
    await sleep(250);
    all = await members(nc, fleet);
  }
  return all;
}

async function reload(nc: NatsConnection, settings: Settings, io: FleetIo): Promise<number> {
  const all = await rolloutMembers(nc, settings.fleet);
  const skipped = all.filter((r) => r.state === 'draining' || r.state === 'stopping');
  for (const r of skipped) io.log(`spawning: fleet reload: skipping ${r.node} (${r.state})`);
  const nodes = all.filter((r) => !skipped.includes(r)).map((r) => r.node);
  // Not in the registry, so not asked: named now and in the outcome, never silently left on old code.
  const lost = await droppedOut(nc, settings.fleet, all);
  if (lost === null) io.log(`spawning: fleet reload: cannot read the fleet's roster: a host that dropped out of the registry could not be named`);
  for (const r of lost ?? []) io.log(`spawning: fleet reload: ${r.node}: not in the registry (its entry expired; generation ${r.generation}, last seen ${age(Date.now() - r.updatedAt)} ago): cannot be asked`);
  const lostNote = lost?.length ? `; ${lost.map((r) => lastSeen(r)).join(', ')} dropped out of the registry and ${lost.length === 1 ? 'was' : 'were'} not reloaded` : '';
  if (nodes.length === 0) throw new FleetError(`fleet '${settings.fleet}' has no members to reload${lostNote}`);
  const before = new Map(all.map((r) => [r.node, r.generation]));
  const timeoutMs = settings.wait * 1000;
  const settleMs = Math.min(timeoutMs, SETTLE_MS);
  /** Hosts that did not answer after their reload request: the report asks them once more, without waiting again. */
  const silent = new Set<string>();

  /**
   * Asks one host to reload. Its answer can be lost while the reload itself
   * goes on (the NATS server it came through died, a partition, a timeout):
   * then the host's own report, once it stopped reloading, says what happened.
   */
  const reloadOne = async (node: string): Promise<{ ok: true; generation: number; note?: string } | { ok: false; error: string }> => {
    let reply: FleetReply;
    try {
      reply = await request(nc, settings.fleet, node, { t: 'reload', expiresAt: Date.now() + timeoutMs }, timeoutMs);
    } catch (err) {
      const error = (err as Error).message;
      if (/no controller named/.test(error)) return { ok: false, error };
      const r = await settled(nc, settings.fleet, node, settleMs);
      if (!r) silent.add(node);
      const was = before.get(node) ?? 0;
      if (r && r.generation > was) return { ok: true, generation: r.generation, note: `its answer was lost (${error}); it reports generation ${r.generation} serving` };
      return { ok: false, error: r ? `${error}; it still serves generation ${r.generation}` : `${error}; it does not answer` };
    }
    if (reply.t === 'reloaded') return { ok: true, generation: reply.generation };
    if (reply.t === 'reload-failed') return { ok: false, error: `the new code cannot load: ${reply.error}` };
    return { ok: false, error: reply.t === 'error' ? reply.message : `unexpected reply '${reply.t}'` };
  };

  const actor = createActor(
    fleetRolloutMachine.provide({
      actions: {
        announceBatch: (_, { nodes: batch, index, of }) =>
          io.log(`spawning: fleet reload: batch ${index}/${of}${index === 1 && of > 1 ? ' (canary)' : ''}: ${batch.join(', ')}`),
        reloadNode: (_, { node }) => {
          void reloadOne(node).then((outcome) => {
            if (outcome.ok) {
              io.log(`spawning: fleet reload: ${node}: generation ${outcome.generation} ready (was ${before.get(node) ?? '?'})${outcome.note ? `; ${outcome.note}` : ''}`);
              actor.send({ type: 'NODE_RELOADED', node, generation: outcome.generation });
            } else {
              actor.send({ type: 'NODE_FAILED', node, error: outcome.error });
            }
          });
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
    if (lostNote) throw new FleetError(`fleet reload incomplete${lostNote}`);
    return 0;
  }
  // Stopped: say where every host stands, from each host's own report.
  const now = new Map(
    await Promise.all(nodes.map(async (n) => [n, silent.has(n) ? await askReport(nc, settings.fleet, n) : await settled(nc, settings.fleet, n, settleMs)] as const)),
  );
  for (const line of rolloutReport(nodes, before, context.outcomes, now)) io.log(`spawning: fleet reload: ${line}`);
  const old = (n: string): boolean => now.get(n)?.generation === before.get(n);
  const kept = [...untouched(context), ...failures.map((f) => f.node)];
  const keep = kept.filter(old);
  const unknown = kept.filter((n) => !now.get(n));
  const moved = kept.filter((n) => now.get(n) && !old(n));
  throw new FleetError(
    `fleet reload stopped at ${failures.map((f) => `${f.node}: ${f.error}`).join('; ')}` +
      (keep.length ? `; ${keep.join(', ')} keep${keep.length === 1 ? 's' : ''} the old code` : '') +
      (moved.length ? `; ${moved.map((n) => `${n} serves generation ${now.get(n)!.generation}`).join(', ')}` : '') +
      (unknown.length ? `; ${unknown.join(', ')} unreachable (generation unknown)` : '') +
      lostNote,
  );
}

async function drain(nc: NatsConnection, settings: Settings, node: string, io: FleetIo): Promise<number> {
  const reply = await request(nc, settings.fleet, node, { t: 'drain', graceMs: settings.grace * 1000 }, settings.wait * 1000);
  if (reply.t !== 'draining') throw new FleetError(`'${node}' refused to drain: ${reply.t === 'error' ? reply.message : reply.t}`);
  io.log(`spawning: fleet drain: ${node} is draining: /healthz answers 503, it stops accepting in ${reply.graceMs / 1000} s`);
  return 0;
}
