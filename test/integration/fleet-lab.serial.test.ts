/**
 * The fleet under network faults, on scripts/fleet-lab: three controllers and
 * a 3-node NATS cluster (JetStream, the registry bucket replicated 3 times),
 * each in its own network namespace on a bridge. Each fault happens during a
 * `fleet reload` under keep-alive HTTP load on every host:
 *
 *   - the NATS node leading the registry's stream is killed, then restarted;
 *   - one host is cut off from every NATS node (nft), then let back;
 *   - every host's link gets 200 ms of delay and 5% loss (netem, or its
 *     NFQUEUE stand-in on kernels without sch_netem).
 *
 * Each must show: no HTTP request fails on any host; the rollout completes,
 * or stops with a line per host naming the generation it serves (no host
 * half-reloaded or left out); `fleet status` agrees with every host's own
 * /status.json within the TTL after the heal. Root only: skipped, saying why,
 * without root or `ip netns`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NodeReport } from '../../protocol/fleet-messages.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait.js';

const LAB = path.join(REPO_ROOT, 'scripts', 'fleet-lab');
// The product's default, and what FLEET.md asks of a cluster: longer than a JetStream leader election
// (4–9 s in nats-server 2.9) plus a heartbeat (TTL / 3). At 10 s (3.3 s heartbeats) an election of
// 9.8 s let an entry expire, and fleet status came right 10.02 s after the heal: a failed run.
const TTL_SECONDS = 15;
const HOSTS = ['h1', 'h2', 'h3'];
const ENV = { ...process.env, FLEET_LAB_PREFIX: 'sfltest', FLEET_LAB_NET: '10.217.94', FLEET_LAB_TTL: String(TTL_SECONDS) };

function whyNot(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: the rig creates network namespaces';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `'ip netns' is unavailable: ${r.error?.message ?? r.stderr.trim()}`;
  return null;
}
const skip = whyNot();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs scripts/fleet-lab to completion; `onStderr` sees its stderr as it comes. */
function lab(args: string[], onStderr?: (all: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(LAB, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr);
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The lab's state directory (scripts/fleet-lab: $TMPDIR/spawning-$FLEET_LAB_PREFIX), where each host's log is. */
const STATE = path.join(process.env.TMPDIR ?? '/tmp', `spawning-${ENV.FLEET_LAB_PREFIX}`);

/** The last lines each host logged, access-log lines left out: the lab's teardown deletes the logs, and a failed command is explained by them. */
function hostLogs(): string {
  return HOSTS.map((host) => {
    let text: string;
    try {
      text = readFileSync(path.join(STATE, `spawning-${host}.log`), 'utf8');
    } catch (err) {
      text = `(no log: ${(err as Error).message})`;
    }
    const own = text.split('\n').filter((line) => !/^\S+ - \S+ \[/.test(line));
    return `--- ${host}, last lines of its log:\n${own.slice(-15).join('\n')}`;
  }).join('\n');
}

async function labOk(...args: string[]): Promise<string> {
  const r = await lab(args);
  if (r.code !== 0) assert.fail(`fleet-lab ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${hostLogs()}`);
  return r.stdout;
}

interface UrlReport {
  sent: number;
  ok: number;
  failed: number;
  reasons: Record<string, number>;
}

/** `fleet-lab load` until stop(): keep-alive loops on every host from the client namespace. */
function startLoad(): { stop: () => Promise<Record<string, UrlReport>> } {
  const p = spawn(LAB, ['load'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<void>((resolve) => p.on('close', () => resolve()));
  return {
    stop: async () => {
      p.kill('SIGTERM');
      await closed;
      assert.ok(stdout.trim(), `no load report; stderr:\n${stderr}`);
      return JSON.parse(stdout) as Record<string, UrlReport>;
    },
  };
}

/** What the host itself says it serves (its status service, inside its namespace). */
async function ownGeneration(host: string): Promise<number> {
  const page = await labOk('exec', host, 'curl', '-fsS', '--max-time', '5', 'http://127.0.0.1:9100/status.json');
  return (JSON.parse(page) as { generation: number }).generation;
}

async function registry(): Promise<NodeReport[]> {
  return JSON.parse(await labOk('fleet', 'status', '--json')) as NodeReport[];
}

describe('a fleet in network namespaces under NATS faults', { skip: skip ?? false, concurrency: false, timeout: 150_000 }, () => {
  let version = 1;

  before(async () => {
    // Interrupted (Ctrl-C, the runner's timeout), the after() hook does not run: the namespaces must still go.
    const teardown = (signal: NodeJS.Signals): void => {
      spawnSync(LAB, ['stop'], { env: ENV, stdio: 'ignore' });
      process.kill(process.pid, signal);
    };
    process.once('SIGINT', teardown);
    process.once('SIGTERM', teardown);
    await labOk('start');
  });

  after(async () => {
    await lab(['stop']);
  });

  /**
   * One fault during one rollout: deploy a new version, start load, start the
   * reload, `inject` when the reload's stderr says so, heal, and check what
   * every fault must show. Returns the reload's run.
   */
  async function rehearse(fault: string, reloadArgs: string[], inject: (stderr: string) => Promise<void> | null, first?: () => Promise<void>): Promise<Run> {
    version++;
    await labOk('deploy', `v${version}`);
    const before = new Map<string, number>();
    for (const h of HOSTS) before.set(h, await ownGeneration(h));
    const load = startLoad();
    await first?.();
    let injected: Promise<void> | null = null;
    const reload = await lab(['reload', ...reloadArgs], (stderr) => (injected ??= inject(stderr)));
    await injected;
    await labOk('heal');
    const healedAt = Date.now();
    const reports = await load.stop();

    // No HTTP request failed on any host, the partitioned one included.
    for (const [url, r] of Object.entries(reports)) {
      assert.equal(r.failed, 0, `${fault}: ${url}: ${JSON.stringify(r.reasons)} of ${r.sent}`);
      assert.ok(r.ok > 20, `${fault}: ${url}: only ${r.ok} answered`);
    }

    // `fleet status` right again within the TTL: every host listed, serving, with its own generation.
    const own = new Map<string, number>();
    const seen: string[] = [];
    let rightAt = 0;
    await waitFor(
      async () => {
        const t0 = Date.now();
        const reg = await registry();
        for (const h of HOSTS) own.set(h, await ownGeneration(h));
        seen.push(`+${t0 - healedAt} ms (read in ${Date.now() - t0} ms): ${reg.map((r) => `${r.node} ${r.state} ${r.generation}/${own.get(r.node)}`).join(', ')}`);
        rightAt = t0;
        return reg.length === HOSTS.length && reg.every((r) => r.state === 'serving' && r.generation === own.get(r.node));
      },
      `${fault}: fleet status agreeing with every host after the heal`,
      (TTL_SECONDS + 10) * 1000,
      200,
    );
    // From the heal to the start of the first read that was right: a CLI's own start-up on a busy machine is not the fleet's.
    const rightAfter = rightAt - healedAt;
    process.stderr.write(`fleet-lab test: ${fault}: reload exit ${reload.code}; fleet status right ${rightAfter} ms after the heal (TTL ${TTL_SECONDS} s); ` +
      `requests ${Object.values(reports).map((r) => r.ok).join('/')}, failed 0\n${seen.map((l) => `  ${l}\n`).join('')}`);
    assert.ok(rightAfter <= TTL_SECONDS * 1000, `${fault}: fleet status was right only ${rightAfter} ms after the heal:\n${seen.join('\n')}`);

    // No host half-reloaded: each serves the generation it had or exactly one more.
    for (const h of HOSTS) assert.ok([before.get(h)!, before.get(h)! + 1].includes(own.get(h)!), `${fault}: ${h} went from ${before.get(h)} to ${own.get(h)}`);
    if (reload.code === 0) {
      assert.match(reload.stderr, /3 hosts reloaded/);
      for (const h of HOSTS) assert.equal(own.get(h), before.get(h)! + 1, `${fault}: the rollout succeeded but ${h} serves generation ${own.get(h)}`);
    } else {
      // Stopped: one line per host, none forgotten, each naming a generation (or why it cannot).
      assert.equal(reload.code, 5, reload.stderr);
      for (const h of HOSTS) assert.match(reload.stderr, new RegExp(`^spawning: fleet reload: ${h}: generation (\\d+|unknown \\(unreachable)`, 'm'), `${fault}: no report line for ${h}:\n${reload.stderr}`);
    }
    return reload;
  }

  test('kill the NATS node leading the registry during a reload, then bring it back', async () => {
    const reload = await rehearse('nats-kill', ['--wait', '20'], (stderr) =>
      /batch 2\/3/.test(stderr) ? labOk('fault', 'nats-kill', 'leader').then(() => {}) : null,
    );
    // Two live NATS nodes of three keep the registry and the commands going: the rollout completes.
    assert.equal(reload.code, 0, reload.stderr);
  });

  test('cut a host off from NATS during a reload: it keeps serving, is reported, and rejoins with its true generation', async () => {
    const wait = 4;
    const startedAt = new Map<string, number>();
    for (const h of HOSTS) startedAt.set(h, await ownGeneration(h));
    // Cut off before the rollout starts, while its registry entry is still live: injected when the canary
    // began, the fault raced the rollout, and on a busy machine h2 could be asked (and reload) before the
    // partition took hold, which is a different scenario (a lost answer) from the one checked here.
    const reload = await rehearse('partition', ['--wait', String(wait)], () => null, () => labOk('fault', 'partition', 'h2').then(() => {}));
    assert.equal(reload.code, 5, reload.stderr);
    assert.match(reload.stderr, /^spawning: fleet reload: h1: generation \d+ \(reloaded from \d+\)$/m);
    assert.match(reload.stderr, /^spawning: fleet reload: h2: generation unknown \(unreachable; \d+ before the rollout\) \(failed: 'h2' did not answer within 4 s/m);
    assert.match(reload.stderr, new RegExp(`^spawning: fleet reload: h3: generation ${startedAt.get('h3')} \\(not asked\\)$`, 'm'));
    // h2 was never asked while cut off: back, it serves and registers the generation it had.
    const gen = await ownGeneration('h2');
    assert.equal(gen, startedAt.get('h2'));
    // Cut off since before the rollout, its old entry may expire just after the heal and before it registers
    // again (within a heartbeat of the reconnect): wait for the entry it writes, then check its generation.
    const entry = await waitFor(async () => (await registry()).find((r) => r.node === 'h2'), 'h2 registered again', (TTL_SECONDS + 10) * 1000, 200);
    assert.equal(entry.generation, gen, 'h2 rejoined with a generation that is not its own');
  });

  test('200 ms of delay and 5% loss on every host during a reload', async () => {
    const reload = await rehearse('latency', ['--wait', '30'], (stderr) => (/batch 1\/3/.test(stderr) ? labOk('fault', 'latency', 'all').then(() => {}) : null));
    assert.equal(reload.code, 0, reload.stderr);
  });
});

if (skip) process.stderr.write(`fleet-lab test skipped: ${skip}\n`);
