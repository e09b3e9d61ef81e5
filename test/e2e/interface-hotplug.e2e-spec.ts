/**
 * Nova's os-interface through the stock CLI: a running server on network A gets a port of
 * network B hot-plugged (`openstack server add port`): QEMU has the NIC (query-rx-filter on the
 * operator monitor), the guest sees a new interface with the port's MAC (PCIe hotplug through a
 * spare root port; the test guest's kernel takes it with acpiphp), server show lists the address.
 * `openstack server remove port` unplugs it from guest and QEMU, removes its tap from the host's
 * namespace, and leaves the port unbound (device_id '') but existing.
 */
import { OpenStackClient } from '@nubo/client';
import { QmpClient } from '@nubo/qmp';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, demoClient, eventually, hostNumber, instanceDir } from '../support/cloud';
import { E2E } from '../support/e2e-env';
import { GUEST_READY, consoleOutput, typeOnSerial, waitForConsole } from '../support/guest';
import { NetworkIdRecorder } from '../support/network-leaks';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const tapOf = (portId: string) => `nt-${portId.replace(/-/g, '').slice(0, 12)}`;

async function qmp<T>(hostId: string, serverId: string, command: string): Promise<T> {
  const client = await QmpClient.connect(join(instanceDir(hostId, serverId), 'qmp-ops.sock'));
  try {
    return await client.execute<T>(command);
  } finally {
    client.close();
  }
}

/** Links in the host's namespace (ip -o link). */
function hostLinks(hostId: string): string {
  return execFileSync('ip', ['-n', `${E2E.NUBO_CLOUD_NAME ?? 'nubo-e2e'}-h${hostNumber(hostId)}`, '-o', 'link'], { encoding: 'utf8' });
}

(isRoot ? describe : describe.skip)('interface hot-plug (needs root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-ifhp-'));
  const demoEnv = openrcEnv(join(E2E.NUBO_STATE_DIR, 'openrc-demo'));
  const suffix = Date.now().toString(36);
  const netA = `ifa-${suffix}`;
  const netB = `ifb-${suffix}`;
  let admin: OpenStackClient;
  let demo: OpenStackClient;
  const networks: string[] = [];
  const ids = new NetworkIdRecorder();
  let portId = '';
  let serverId = '';
  let host = '';

  async function osc(...args: string[]): Promise<any> {
    const { stdout } = await run('openstack', [...args, '-f', 'json'], { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 600_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }
  async function oscPlain(...args: string[]): Promise<void> {
    await run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...demoEnv }, timeout: 600_000 });
  }
  const guestSays = async (marker: string, command: string) => {
    await typeOnSerial(host, serverId, `echo "${marker} $(${command})"`);
  };

  beforeAll(async () => {
    admin = await adminClient();
    demo = await demoClient();
    networks.push(ids.network((await osc('network', 'create', netA)).id));
    await osc('subnet', 'create', '--network', netA, '--subnet-range', '10.93.0.0/24', `ifsa-${suffix}`);
    networks.push(ids.network((await osc('network', 'create', netB)).id));
    await osc('subnet', 'create', '--network', netB, '--subnet-range', '10.94.0.0/24', `ifsb-${suffix}`);
    portId = ids.port((await osc('port', 'create', '--network', netB, `ifport-${suffix}`)).id);
    serverId = (await osc('server', 'create', '--flavor', '1', '--image', 'nubo-test', '--network', netA, '--wait', `ifvm-${suffix}`)).id;
    host = (await admin.getServer(serverId))['OS-EXT-SRV-ATTR:host'];
    await ids.portsOf(demo, serverId);
    await waitForConsole(demo, serverId, GUEST_READY);
  });

  afterAll(async () => {
    if (serverId) {
      await demo.request('DELETE', `/compute/v2.1/servers/${serverId}`);
      await demo.waitForGone(serverId, 180_000).catch(() => undefined);
    }
    if (portId) await demo.request('DELETE', `/network/v2.0/ports/${portId}`);
    for (const id of networks.reverse()) await demo.request('DELETE', `/network/v2.0/networks/${id}`);
    rmSync(dir, { recursive: true, force: true });
    await ids.expectNoLeaks();
  });

  it('server add port: the NIC in QEMU and in the guest, the address in server show and os-interface', async () => {
    await oscPlain('server', 'add', 'port', serverId, portId);
    const port = (await demo.call('GET', `/network/v2.0/ports/${portId}`, 200)).port;
    expect(port.device_id).toBe(serverId);
    const ip = port.fixed_ips[0].ip_address;

    const filters = await qmp<Array<{ name: string; 'main-mac': string }>>(host, serverId, 'query-rx-filter');
    expect(filters.map((f) => f['main-mac'])).toContain(port.mac_address);
    expect(hostLinks(host)).toContain(tapOf(portId));

    const shown = (await demo.call('GET', `/compute/v2.1/servers/${serverId}`, 200)).server;
    expect(shown.addresses[netB]).toEqual([{ version: 4, addr: ip, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address }]);
    const listed = (await demo.call('GET', `/compute/v2.1/servers/${serverId}/os-interface`, 200)).interfaceAttachments;
    expect(listed).toContainEqual({ port_state: 'ACTIVE', fixed_ips: [{ subnet_id: port.fixed_ips[0].subnet_id, ip_address: ip }], port_id: portId, net_id: networks[1], mac_addr: port.mac_address });
    expect((await osc('port', 'list', '--server', serverId)).map((p: { ID: string }) => p.ID)).toContain(portId);

    await eventually('the guest to list the new MAC', async () => {
      await guestSays('IFHP-MACS', 'cat /sys/class/net/*/address | tr "\\n" " "');
      const log = await consoleOutput(demo, serverId);
      return [...log.matchAll(/IFHP-MACS ([^\r\n]*)/g)].some((m) => m[1].includes(port.mac_address));
    }, 120_000);
  });

  it('server remove port: gone from guest and QEMU, the tap gone from the host, the port unbound and kept', async () => {
    const mac = (await demo.call('GET', `/network/v2.0/ports/${portId}`, 200)).port.mac_address;
    await oscPlain('server', 'remove', 'port', serverId, portId);
    await eventually('the port to be unbound', async () => (await demo.call('GET', `/network/v2.0/ports/${portId}`, 200)).port.device_id === '', 120_000);
    const filters = await qmp<Array<{ 'main-mac': string }>>(host, serverId, 'query-rx-filter');
    expect(filters.map((f) => f['main-mac'])).not.toContain(mac);
    await eventually('the tap to leave the host', async () => !hostLinks(host).includes(tapOf(portId)), 60_000);
    // The job clears the task state after its last step (the unbind seen above).
    const shown = await eventually('the detach to end', async () => {
      const s = (await demo.call('GET', `/compute/v2.1/servers/${serverId}`, 200)).server;
      return (s['OS-EXT-STS:task_state'] ?? null) === null && s;
    }, 30_000);
    expect(shown.addresses[netB]).toBeUndefined();
    await eventually('the guest to lose the MAC', async () => {
      await guestSays('IFHP-AFTER', 'cat /sys/class/net/*/address | tr "\\n" " "');
      const last = [...(await consoleOutput(demo, serverId)).matchAll(/IFHP-AFTER ([0-9a-f: ]+)/g)].at(-1);
      return !!last && last[1].includes(':') && !last[1].includes(mac);
    }, 120_000);
    expect((await demo.call('GET', `/network/v2.0/ports/${portId}`, 200)).port.id).toBe(portId);
  });

  it('answers 404 for a port that is not attached and 400 naming the field', async () => {
    const notAttached = await demo.request('DELETE', `/compute/v2.1/servers/${serverId}/os-interface/${portId}`);
    expect(notAttached.status).toBe(404);
    const both = await demo.request('POST', `/compute/v2.1/servers/${serverId}/os-interface`, {
      body: { interfaceAttachment: { port_id: portId, net_id: networks[1] } },
    });
    expect(both.status).toBe(400);
    expect(both.body.badRequest.message).toContain('port_id');
  });
});
