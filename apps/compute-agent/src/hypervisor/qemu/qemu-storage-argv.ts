/**
 * The disks of QEMU's argv. -blockdev takes JSON, so paths are JSON strings: no comma escaping to
 * get wrong. Each chain is given explicitly (base read-only with `backing: null`), so QEMU never
 * follows a backing file name written in an image header.
 *
 *   root disk   overlay (disk.qcow2) -> cached base, bootindex=1
 *   ISO         the cached file as a read-only CD-ROM on q35's AHCI, bootindex=1 (no overlay)
 *   ephemeral   ephemeral.qcow2, standalone, no bootindex
 * Disks sit on virtio-blk, or on one virtio-scsi controller when the image asks (hw_disk_bus=scsi).
 */
import { InstanceSpec } from '@nubo/contracts';
import type { InstancePaths } from './qemu-argv';
import { assertSafePath } from './qemu-option-syntax';

/** The base image under a server's disk, as the cache holds it. */
export interface BaseImage {
  path: string;
  format: 'raw' | 'qcow2' | 'iso';
}

/** Block node names. Fixed strings: nothing from a client names a node. */
export const NODE = {
  baseFile: 'nubo-base-file',
  base: 'nubo-base',
  diskFile: 'nubo-disk-file',
  disk: 'nubo-disk',
  cdromFile: 'nubo-cdrom-file',
  cdrom: 'nubo-cdrom',
  ephemeralFile: 'nubo-ephemeral-file',
  ephemeral: 'nubo-ephemeral',
  /** The target of a snapshot's blockdev-backup, added and removed at run time. */
  snapshot: 'nubo-snapshot',
} as const;

/** The virtio-scsi controller's id, when disks are on SCSI. */
const SCSI = 'scsi0';

const blockdev = (node: Record<string, unknown>) => ['-blockdev', JSON.stringify(node)];

export function storageArgs(spec: InstanceSpec, paths: InstancePaths, image: BaseImage | undefined): string[] {
  const disk = (node: string, id: string, bootindex?: number) => {
    const boot = bootindex === undefined ? '' : `,bootindex=${bootindex}`;
    return ['-device', spec.diskBus === 'scsi' ? `scsi-hd,drive=${node},bus=${SCSI}.0,id=${id}${boot}` : `virtio-blk-pci,drive=${node},id=${id}${boot}`];
  };
  const args: string[] = [];
  let onBus = false;
  if (spec.image) {
    if (!image || image.format !== spec.image.diskFormat) throw new Error('the cached image of spec.image is required');
    assertSafePath(image.path);
    if (image.format === 'iso') {
      args.push(
        ...blockdev({ driver: 'file', filename: image.path, 'node-name': NODE.cdromFile, 'read-only': true }),
        ...blockdev({ driver: 'raw', file: NODE.cdromFile, 'node-name': NODE.cdrom, 'read-only': true }),
        '-device', `ide-cd,drive=${NODE.cdrom},bus=ide.0,id=cdrom0,bootindex=1`,
      );
    } else {
      assertSafePath(paths.disk);
      args.push(
        ...blockdev({ driver: 'file', filename: image.path, 'node-name': NODE.baseFile, 'read-only': true }),
        ...blockdev({ driver: image.format, file: NODE.baseFile, 'node-name': NODE.base, 'read-only': true, ...(image.format === 'qcow2' ? { backing: null } : {}) }),
        ...blockdev({ driver: 'file', filename: paths.disk, 'node-name': NODE.diskFile }),
        ...blockdev({ driver: 'qcow2', file: NODE.diskFile, backing: NODE.base, 'node-name': NODE.disk }),
        ...disk(NODE.disk, 'disk0', 1),
      );
      onBus = true;
    }
  }
  if (spec.ephemeralGb) {
    assertSafePath(paths.ephemeral);
    args.push(
      ...blockdev({ driver: 'file', filename: paths.ephemeral, 'node-name': NODE.ephemeralFile }),
      ...blockdev({ driver: 'qcow2', file: NODE.ephemeralFile, backing: null, 'node-name': NODE.ephemeral }),
      ...disk(NODE.ephemeral, 'disk1'),
    );
    onBus = true;
  }
  if (onBus && spec.diskBus === 'scsi') args.unshift('-device', `virtio-scsi-pci,id=${SCSI}`);
  return args;
}

/** The boot index NICs start at: after the boot disk or CD-ROM. */
export function firstNicBootIndex(spec: InstanceSpec): number {
  return spec.image ? 2 : 1;
}
