/**
 * What a server's flavor and create request become inside the guest (the nubo-test image under
 * TCG): the flavor's ephemeral disk as a second virtio disk, its CPU topology extra specs, and the
 * server's display name and metadata (hostile characters included) as SMBIOS strings, read by the
 * guest's own shell through the serial console.
 */
import { OpenStackClient } from '@nubo/client';
import { QmpClient } from '@nubo/qmp';
import { join } from 'node:path';
import { adminClient, instanceDir } from '../support/cloud';
import { GUEST_READY, testImageId, typeOnSerial, waitForConsole } from '../support/guest';

jest.setTimeout(600_000);

const isRoot = process.getuid?.() === 0;
const GiB = 1024 ** 3;

(isRoot ? describe : describe.skip)('flavor and request inside the guest', () => {
  const suffix = Date.now().toString(36);
  const name = `web, "one"='two' --three=${suffix}`;
  let admin: OpenStackClient;
  let flavorId: string;
  let id: string;
  let host: string;

  beforeAll(async () => {
    admin = await adminClient();
    const flavor = await admin.call('POST', '/compute/v2.1/flavors', 200, {
      flavor: { name: `eph-${suffix}`, ram: 512, vcpus: 2, disk: 1, 'OS-FLV-EXT-DATA:ephemeral': 1 },
    });
    flavorId = flavor.flavor.id;
    await admin.call('POST', `/compute/v2.1/flavors/${flavorId}/os-extra_specs`, 200, { extra_specs: { 'hw:cpu_sockets': '2' } });
    const created = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name, flavorRef: flavorId, imageRef: await testImageId(admin), metadata: { role: 'db,primary', 'k=v': 'x\'y"z' } },
    });
    id = created.server.id;
    host = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    await waitForConsole(admin, id, GUEST_READY);
  });

  afterAll(async () => {
    if (id) {
      await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
      await admin.waitForGone(id, 120_000).catch(() => undefined);
    }
    if (flavorId) await admin.request('DELETE', `/compute/v2.1/flavors/${flavorId}`);
  });

  it('attaches the flavor ephemeral disk as a second disk of its size', async () => {
    const qmp = await QmpClient.connect(join(instanceDir(host, id), 'qmp-ops.sock'));
    try {
      const blocks = await qmp.execute<Array<{ qdev?: string; inserted?: { image: { 'virtual-size': number } } }>>('query-block');
      const sizes = Object.fromEntries(blocks.map((b) => [b.qdev, b.inserted?.image['virtual-size']]));
      expect(Object.values(sizes)).toEqual(expect.arrayContaining([1 * GiB]));
      expect(blocks.filter((b) => b.inserted)).toHaveLength(2);
    } finally {
      qmp.close();
    }
    // The guest sees it: 1 GiB = 2097152 sectors of 512 bytes.
    await typeOnSerial(host, id, 'echo "EPH-SECTORS $(cat /sys/block/vdb/size)"');
    await waitForConsole(admin, id, 'EPH-SECTORS 2097152', 1, 30_000);
  });

  it('gives the guest two sockets of one core, as hw:cpu_sockets=2 asks', async () => {
    await typeOnSerial(host, id, 'echo "CPU-SOCKETS $(grep "physical id" /proc/cpuinfo | sort -u | wc -l)"');
    await waitForConsole(admin, id, 'CPU-SOCKETS 2', 1, 30_000);
  });

  it('shows the guest its name and metadata in SMBIOS, byte for byte', async () => {
    const script = "tr '\\000' '\\n' < /sys/firmware/dmi/tables/DMI | grep -a 'io.nubo' | sed 's/^.*io[.]nubo/OEM> io.nubo/'";
    await typeOnSerial(host, id, script);
    const log = await waitForConsole(admin, id, 'OEM> io.nubo.meta.', 2, 30_000);
    expect(log).toContain(`OEM> io.nubo.name:${name}\n`);
    expect(log).toContain('OEM> io.nubo.meta.role:db,primary\n');
    expect(log).toContain('OEM> io.nubo.meta.k=v:x\'y"z\n');
  });
});
