import { ImageRecord, PowerState, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { snapshotImageBody } from './server-snapshot.service';

const server = {
  id: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e',
  projectId: 'p1',
  imageRef: '0f9a4c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b',
  flavor: { vcpus: 1, ramMb: 512, diskGb: 1, name: 'm1.tiny' },
  vmState: VmState.Active,
  powerState: PowerState.Running,
} as ServerEntity;

const base = {
  id: server.imageRef,
  minDisk: 0,
  minRam: 128,
  diskFormat: 'qcow2',
  properties: { hypervisor_type: 'qemu', os_distro: 'debian', img_signature: 'sig', cache_in_nova: 'true', image_type: 'image' },
} as unknown as ImageRecord;

describe('snapshotImageBody', () => {
  it('describes a Nova snapshot: standalone qcow2, private, with the instance and its base named', () => {
    const body = snapshotImageBody({ server, userId: 'u1', request: { name: 'snap', metadata: {} }, base });
    expect(body).toEqual({
      name: 'snap',
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'private',
      min_disk: 1,
      min_ram: 128,
      image_type: 'snapshot',
      instance_uuid: server.id,
      user_id: 'u1',
      base_image_ref: server.imageRef,
      // Inherited from the base, so a clone boots as its origin did (hypervisor_type).
      hypervisor_type: 'qemu',
      os_distro: 'debian',
    });
  });

  it('lets the caller metadata win over inherited and Nova properties', () => {
    const body = snapshotImageBody({ server, userId: 'u1', request: { name: 'snap', metadata: { os_distro: 'custom', image_type: 'backup' } }, base });
    expect(body).toMatchObject({ os_distro: 'custom', image_type: 'backup' });
  });

  it('inherits nothing from a base image that is gone, and keeps min_disk at the flavor disk', () => {
    const body = snapshotImageBody({ server: { ...server, flavor: { ...server.flavor, diskGb: 5 } } as ServerEntity, userId: 'u1', request: { name: 's', metadata: {} } });
    expect(body).toMatchObject({ min_disk: 5, min_ram: 0 });
    expect(body).not.toHaveProperty('hypervisor_type');
  });
});
