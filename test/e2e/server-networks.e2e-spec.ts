/**
 * Servers on tenant networks through the stock `openstack` CLI as the demo user: a network and a
 * subnet, a server with `--network`, another with `--port` and `--nic net-id=..,v4-fixed-ip=..`.
 * Checked through the API (server show's addresses, the ports bound to the server), on the host
 * (the QEMU process opens the port's tap with the port's MAC) and in the guest (eth0 has that MAC).
 * Delete frees a given port and removes the ports the server created.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cmdline, demoClient, eventually, qemuPid } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { GUEST_READY, consoleOutput, typeOnSerial, waitForConsole } from '../support/guest';
import { NetworkIdRecorder } from '../support/network-leaks';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const tapOf = (portId: string) => `nt-${portId.replace(/-/g, '').slice(0, 12)}`;

(isRoot ? describe : describe.skip)('servers on tenant networks (needs root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-server-networks-'));
  const demoEnv = openrcEnv(join(E2E.NUBO_STATE_DIR, 'openrc-demo'));
  const suffix = Date.now().toString(36);
  const net = `snet-${suffix}`;
  const servers: string[] = [];
  let admin: OpenStackClient;
  let demo: OpenStackClient;
  let netId: string;
  let givenPortId: string;
  const ids = new NetworkIdRecorder();

  async function osc(...args: string[]): Promise<any> {
    const { stdout } = await run('openstack', [...args, '-f', 'json'], { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 600_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }
  const portsOf = (serverId: string): Promise<any[]> => ids.portsOf(demo, serverId);

  beforeAll(async () => {
    admin = await adminClient();
    demo = await demoClient();
    netId = ids.network((await osc('network', 'create', net)).id);
    await osc('subnet', 'create', '--network', net, '--subnet-range', '10.91.0.0/24', `ssub-${suffix}`);
    givenPortId = ids.port((await osc('port', 'create', '--network', net, `sport-${suffix}`)).id);
  });

  afterAll(async () => {
    for (const id of servers) await demo.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await demo.waitForGone(id, 180_000).catch(() => undefined);
    await demo.request('DELETE', `/network/v2.0/ports/${givenPortId}`);
    if (netId) await demo.request('DELETE', `/network/v2.0/networks/${netId}`);
    rmSync(dir, { recursive: true, force: true });
    await ids.expectNoLeaks();
  });

  it('boots a server with --network: its address in server show, the port\'s tap and MAC in QEMU and in the guest', async () => {
    const created = await osc('server', 'create', '--flavor', '1', '--image', 'nubo-test', '--network', net, '--wait', `svm1-${suffix}`);
    servers.push(created.id);
    const [port] = await portsOf(created.id);
    expect(port).toMatchObject({ network_id: netId, device_owner: expect.stringMatching(/^compute:/) });
    const ip = port.fixed_ips[0].ip_address;
    expect(ip).toMatch(/^10\.91\.0\.\d+$/);

    const shown = await osc('server', 'show', created.id);
    expect(shown.status).toBe('ACTIVE');
    expect(JSON.stringify(shown.addresses)).toContain(ip);
    const raw = (await demo.call('GET', `/compute/v2.1/servers/${created.id}`, 200)).server;
    expect(raw.addresses).toEqual({ [net]: [{ version: 4, addr: ip, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address }] });

    const host = (await admin.getServer(created.id))['OS-EXT-SRV-ATTR:host'];
    const args = cmdline(qemuPid(host, created.id)!);
    expect(args).toContain(`tap,id=net0,ifname=${tapOf(port.id)},script=no,downscript=no`);
    expect(args).toContain(`mac=${port.mac_address}`);

    await waitForConsole(demo, created.id, GUEST_READY);
    await typeOnSerial(host, created.id, 'echo "ETH0-MAC $(cat /sys/class/net/eth0/address)"');
    await eventually('the guest to print its MAC', async () => (await consoleOutput(demo, created.id)).includes(`ETH0-MAC ${port.mac_address}`), 60_000);
  });

  it('boots a server with --port and --nic net-id=..,v4-fixed-ip=..: two NICs in that order', async () => {
    const created = await osc(
      'server', 'create', '--flavor', '1', '--image', 'nubo-test',
      '--port', givenPortId, '--nic', `net-id=${netId},v4-fixed-ip=10.91.0.50`, '--wait', `svm2-${suffix}`,
    );
    servers.push(created.id);
    const given = (await demo.call('GET', `/network/v2.0/ports/${givenPortId}`, 200)).port;
    expect(given.device_id).toBe(created.id);
    const other = (await portsOf(created.id)).find((p) => p.id !== givenPortId);
    expect(other.fixed_ips[0].ip_address).toBe('10.91.0.50');

    const host = (await admin.getServer(created.id))['OS-EXT-SRV-ATTR:host'];
    const args = cmdline(qemuPid(host, created.id)!);
    expect(args).toContain(`ifname=${tapOf(givenPortId)},`);
    expect(args).toContain(`ifname=${tapOf(other.id)},`);
    expect(args.indexOf(`mac=${given.mac_address}`)).toBeLessThan(args.indexOf(`mac=${other.mac_address}`));
    const addrs = (await demo.call('GET', `/compute/v2.1/servers/${created.id}`, 200)).server.addresses[net].map((a: { addr: string }) => a.addr);
    expect(addrs.sort()).toEqual([given.fixed_ips[0].ip_address, '10.91.0.50'].sort());
  });

  it('refuses an unknown network (400) and a port in use (409), creating nothing', async () => {
    const body = (networks: unknown) => ({ server: { name: `sbad-${suffix}`, flavorRef: '1', networks } });
    const before = (await demo.call('GET', '/compute/v2.1/servers', 200)).servers.length;
    const unknown = await demo.request('POST', '/compute/v2.1/servers', { body: body([{ uuid: '00000000-0000-4000-8000-000000000000' }]) });
    expect(unknown.status).toBe(400);
    expect(unknown.body.badRequest.message).toBe('Network 00000000-0000-4000-8000-000000000000 could not be found.');
    const inUse = await demo.request('POST', '/compute/v2.1/servers', { body: body([{ port: givenPortId }]) });
    expect(inUse.status).toBe(409);
    expect(inUse.body.conflictingRequest.message).toBe(`Port ${givenPortId} is still in use.`);
    expect((await demo.call('GET', '/compute/v2.1/servers', 200)).servers.length).toBe(before);
  });

  it('delete frees the given port and removes the ports the server created', async () => {
    const id = servers.pop()!;
    const created = (await portsOf(id)).find((p) => p.id !== givenPortId).id;
    await run('openstack', ['server', 'delete', '--wait', id], { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 300_000 });
    const given = (await demo.call('GET', `/network/v2.0/ports/${givenPortId}`, 200)).port;
    expect(given.device_id).toBe('');
    expect((await demo.request('GET', `/network/v2.0/ports/${created}`)).status).toBe(404);
  });
});
