/**
 * Self-fencing (issue 9): a host's agent frozen (SIGSTOP) past its fence timeout while it runs a
 * server. On SIGCONT it finds it fenced itself: its QEMU is killed before it acts on anything,
 * every command is refused, its host is `disabled` with the transitions and their reasons in the
 * history; once an admin enables the host with the stock CLI, the agent rejoins with a new epoch,
 * refuses the old one and starts nothing. Invariants (RELIABILITY.md): 8 (an agent cut off longer
 * than its lease kills its own VMs), 1 (no QEMU left running on the fenced host).
 */
import { OpenStackClient } from '@nubo/client';
import { AgentOps, CommandRefusal, InstanceStatus, isRefusal, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { adminClient, cloudEnv, eventually, hostNumber, withDb } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { hostNs, qemusOf, signalAgent } from '../support/host-faults';
import { openrcEnv } from '../support/openrc';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The agent's NUBO_AGENT_FENCE_TIMEOUT_MS (13 s) and a margin; the host is down after 6 s (NUBO_HOST_DOWN_AFTER_MS). */
const FREEZE_MS = 14_500;

/** QEMU processes in a host's namespace. */
function qemusInNamespace(ns: string): number[] {
  return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system');
      } catch {
        return false;
      }
    });
}

describe('host fencing: an agent frozen past its lease', () => {
  let admin: OpenStackClient;
  let nats: RpcClient;
  let serverId: string | undefined;
  let host: string | undefined;
  let frozen: number | undefined;

  const lease = async (): Promise<{ epoch: number; fenced: boolean }> =>
    withDb(async (db) => (await db.query(`SELECT epoch::int AS epoch, fenced_at IS NOT NULL AS fenced FROM compute.host_leases WHERE host_id = $1`, [host])).rows[0]);
  const hostRow = async (): Promise<{ state: string; disabled_reason: string | null }> =>
    withDb(async (db) => (await db.query(`SELECT state, disabled_reason FROM compute.hosts WHERE id = $1`, [host])).rows[0]);
  const status = (epoch?: number): Promise<InstanceStatus> =>
    nats.call(subjects.agent(host!, AgentOps.status.op), AgentOps.status, { serverId: serverId!, opId: `fence-e2e-${Date.now()}`, deadline: Date.now() + 5_000, ...(epoch ? { epoch } : {}) }, { requestId: `req-fence-e2e-${Date.now()}` });
  const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (error) => Object.values(CommandRefusal).find((r) => isRefusal(error, r)) ?? String(error));
  const enable = () =>
    promisify(execFile)('openstack', ['compute', 'service', 'set', '--enable', host!, 'nova-compute'], {
      env: { PATH: process.env.PATH!, HOME: '/tmp', ...openrcEnv(openrcPath) },
      timeout: 60_000,
    });

  beforeAll(async () => {
    admin = await adminClient();
    nats = new RpcClient({ url: cloudEnv().NUBO_NATS_URL, name: 'host-fencing-e2e' });
    await nats.connect();
  });

  afterAll(async () => {
    // Leave the cloud as found: the agent running, its host enabled, the server gone.
    if (frozen !== undefined) signalAgent(frozen, 'SIGCONT');
    if (host && (await hostRow())?.state === 'disabled') await enable().catch(() => undefined);
    if (serverId) {
      await admin.request('DELETE', `/compute/v2.1/servers/${serverId}`);
      await admin.waitForGone(serverId).catch(() => undefined);
    }
    await nats?.close();
  });

  it('kills its QEMU on waking, refuses commands, and rejoins with a new epoch only once an admin enables the host', async () => {
    serverId = await admin.createServer({ name: 'fence-me', flavorRef: '42' });
    const server = await admin.waitForStatus(serverId, 'ACTIVE');
    host = server['OS-EXT-SRV-ATTR:host'] as string;
    const n = hostNumber(host);
    const [qemu] = qemusOf(serverId);
    expect(qemu).toEqual({ pid: expect.any(Number), host });
    const before = await lease();
    expect(before.fenced).toBe(false);
    expect(await status(before.epoch)).toMatchObject({ powerState: 'running' });

    const t0 = Date.now();
    signalAgent(n, 'SIGSTOP');
    frozen = n;
    await eventually(`${host} to be marked down`, async () => (await hostRow()).state === 'down', 13_000);
    const downAfter = Date.now() - t0;
    await sleep(FREEZE_MS - (Date.now() - t0));
    // Frozen, the agent has killed nothing: a self-fence needs a live agent (fence drivers do the rest).
    expect(qemusOf(serverId)).toEqual([qemu]);
    signalAgent(n, 'SIGCONT');
    frozen = undefined;

    await eventually('the QEMU to be killed', async () => qemusOf(serverId!).length === 0, 5_000);
    const killedAfter = Date.now() - t0;
    expect(qemusInNamespace(hostNs(n))).toEqual([]);
    await eventually(`${host} to be disabled`, async () => (await hostRow()).state === 'disabled', 10_000);
    console.log(`fence e2e: down after ${downAfter} ms, QEMU gone ${killedAfter} ms after SIGSTOP (woken at ${FREEZE_MS} ms)`);
    expect((await hostRow()).disabled_reason).toBe(`fenced (epoch ${before.epoch}): enable the service to use the host again`);
    expect(await lease()).toEqual({ epoch: before.epoch, fenced: true });

    // Every command is refused, with or without the epoch; the API says why.
    expect(await refusal(status(before.epoch))).toBe(CommandRefusal.Fenced);
    expect(await refusal(status())).toBe(CommandRefusal.Fenced);
    const consoleReply = await admin.request('POST', `/compute/v2.1/servers/${serverId}/action`, { body: { 'os-getConsoleOutput': { length: 10 } } });
    expect(consoleReply.status).toBe(409);
    expect(JSON.stringify(consoleReply.body)).toContain('fenced');

    const history = await withDb(async (db) =>
      (await db.query(`SELECT from_state, to_state, reason FROM compute.host_state_history WHERE host_id = $1 AND at >= to_timestamp($2 / 1000.0) ORDER BY id`, [host, t0])).rows,
    );
    expect(history).toEqual([
      { from_state: 'up', to_state: 'down', reason: 'no heartbeat for more than 6000 ms' },
      { from_state: 'down', to_state: 'fenced', reason: expect.stringMatching(/^the agent fenced itself: no lease renewal for \d+ ms \(it allows 13000 ms\); killed 1 QEMU\(s\)$/) },
      { from_state: 'fenced', to_state: 'disabled', reason: expect.stringContaining('came back after the fence of epoch') },
    ]);

    // Still refused a few heartbeats later: it stays fenced and starts nothing until enabled.
    await sleep(2_000);
    expect(await refusal(status(before.epoch))).toBe(CommandRefusal.Fenced);
    expect(qemusOf(serverId)).toEqual([]);

    await enable();
    const after = await eventually('a new epoch', async () => {
      const l = await lease();
      return !l.fenced && l.epoch > before.epoch ? l : undefined;
    }, 10_000);
    expect(after.epoch).toBe(before.epoch + 1);
    expect((await hostRow()).state).toBe('up');
    expect(await refusal(status(before.epoch))).toBe(CommandRefusal.StaleEpoch);
    expect(await status(after.epoch)).toMatchObject({ serverId, powerState: 'shutdown' });
    // Nothing was started again: the server ends SHUTOFF (with a fault), no QEMU anywhere.
    await admin.waitForStatus(serverId, 'SHUTOFF');
    expect(qemusOf(serverId)).toEqual([]);
    const last = await withDb(async (db) => (await db.query(`SELECT from_state, to_state, reason FROM compute.host_state_history WHERE host_id = $1 ORDER BY id DESC LIMIT 1`, [host])).rows[0]);
    expect(last).toEqual({ from_state: 'disabled', to_state: 'up', reason: expect.stringMatching(/^enabled by user \S+ \(os-services enable\)$/) });
  });
});
