/**
 * What an agent is told to run for a server: its flavor as it was at create time and, when it
 * boots from an image, where to download the image (a short-lived URL signed for the image store)
 * and the accelerator the image asks for (its `hypervisor_type` property). Also the guest's
 * identity (display name and metadata, for SMBIOS), the flavor's ephemeral disk and CPU topology
 * (hw:cpu_sockets/cores/threads), and the disk bus the image asks for (hw_disk_bus). A server on
 * tenant networks gets the NICs its ports were bound with (kept on the row by the create workflow).
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  ConflictError,
  ImageOps,
  ImageSource,
  InstanceSpec,
  NicSpec,
  NoValidHostError,
  ValidationError,
  cpuTopologyOf,
  signImageUrl,
  subjects,
  STORAGE_EXTRA_SPEC,
} from '@nubo/contracts';
import { FlavorEntity, ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';

const URL_TTL_S = 3600;

/** Nova/libvirt's virt_type as an image's hypervisor_type names it, to QEMU's accelerator. */
const ACCELERATOR_OF_HYPERVISOR_TYPE: Record<string, InstanceSpec['accelerator']> = { qemu: 'tcg', kvm: 'kvm' };

/**
 * The accelerator an image asks for: `hypervisor_type` qemu -> TCG, kvm -> KVM (case-insensitive,
 * as Nova canonicalizes it); absent -> the host's default. Any other hypervisor (xen, hyperv, ...)
 * runs on no host here: NoValidHost, as Nova's ImagePropertiesFilter decides.
 */
export function acceleratorOf(imageId: string, properties: Record<string, unknown> | undefined): InstanceSpec['accelerator'] {
  const raw = properties?.hypervisor_type;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const accelerator = typeof raw === 'string' ? ACCELERATOR_OF_HYPERVISOR_TYPE[raw.trim().toLowerCase()] : undefined;
  if (!accelerator) throw new NoValidHostError(`Image ${imageId} asks for hypervisor_type ${String(raw)}; hosts here run qemu (TCG) and kvm.`);
  return accelerator;
}

/** The disk bus an image asks for (Nova's hw_disk_bus); absent -> virtio. Other buses run nowhere here. */
export function diskBusOf(imageId: string, properties: Record<string, unknown> | undefined): InstanceSpec['diskBus'] {
  const raw = properties?.hw_disk_bus;
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (raw === 'virtio' || raw === 'scsi') return raw;
  throw new ValidationError(`Image ${imageId} asks for hw_disk_bus ${String(raw)}; hosts here have virtio and scsi.`, 'hw_disk_bus');
}

/** The parts of a flavor a spec needs beyond its shape; the server's embedded copy wins when it has them. */
export interface FlavorExtras {
  ephemeralGb?: number;
  extraSpecs?: Record<string, unknown>;
}

/** The spec's guest fields from the server row and its flavor. Pure. */
export function guestFields(server: Pick<ServerEntity, 'name' | 'metadata' | 'flavor'>, flavor: FlavorExtras): Partial<InstanceSpec> {
  const fields: Partial<InstanceSpec> = { name: server.name };
  if (server.metadata && Object.keys(server.metadata).length > 0) fields.metadata = { ...server.metadata };
  if (flavor.ephemeralGb) fields.ephemeralGb = flavor.ephemeralGb;
  const topology = cpuTopologyOf(server.flavor.vcpus, flavor.extraSpecs);
  if (topology) fields.topology = topology;
  if (flavor.extraSpecs?.[STORAGE_EXTRA_SPEC] === 'shared') fields.storage = 'shared';
  return fields;
}

@Injectable()
export class InstanceSpecBuilder {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    @Optional() @Inject(DataSource) private readonly db?: DataSource,
  ) {}

  async build(server: ServerEntity, requestId = server.requestId): Promise<InstanceSpec> {
    const spec: InstanceSpec = {
      serverId: server.id,
      vcpus: server.flavor.vcpus,
      ramMb: server.flavor.ramMb,
      diskGb: server.flavor.diskGb,
      ...guestFields(server, await this.flavorExtras(server)),
    };
    if (server.imageRef) {
      const { source, accelerator, diskBus } = await this.imageSource(server.imageRef, server.projectId, requestId);
      spec.image = source;
      if (accelerator) spec.accelerator = accelerator;
      if (diskBus) spec.diskBus = diskBus;
    }
    const nics = await this.storedNics(server.id);
    if (nics.length) spec.nics = nics;
    return spec;
  }

  /** The NICs of the server's bound ports (ServerNetworks.bind); [] without networks. */
  private async storedNics(serverId: string): Promise<NicSpec[]> {
    if (!this.db) return [];
    const [row]: Array<{ nics: NicSpec[] | null }> = await this.db.query(`SELECT nics FROM compute.servers WHERE id = $1`, [serverId]);
    return Array.isArray(row?.nics) ? row.nics : [];
  }

  /**
   * Ephemeral size and extra specs: from the server's embedded flavor when it carries them, else
   * from the flavors table (servers created before they were embedded); a deleted flavor: none.
   */
  private async flavorExtras(server: ServerEntity): Promise<FlavorExtras> {
    const embedded = server.flavor as ServerEntity['flavor'] & FlavorExtras;
    if (embedded.ephemeralGb !== undefined && embedded.extraSpecs !== undefined) return embedded;
    const row = this.db ? await this.db.getRepository(FlavorEntity).findOneBy({ id: server.flavorId }) : null;
    return { ephemeralGb: embedded.ephemeralGb ?? row?.ephemeralGb, extraSpecs: embedded.extraSpecs ?? row?.extraSpecs };
  }

  private async imageSource(
    imageId: string,
    projectId: string,
    requestId: string,
  ): Promise<{ source: ImageSource; accelerator: InstanceSpec['accelerator']; diskBus: InstanceSpec['diskBus'] }> {
    const image = await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId, projectId }, { requestId });
    if (image.status !== 'active' || !image.sha256 || image.sizeBytes === null) {
      throw new ConflictError(`Image ${imageId} is not active`);
    }
    const diskFormat = image.diskFormat as ImageSource['diskFormat'];
    if (!['raw', 'qcow2', 'iso'].includes(diskFormat)) throw new ConflictError(`Image ${imageId} has disk format ${diskFormat}`);
    const source: ImageSource = {
      id: image.id,
      sha256: image.sha256,
      sizeBytes: image.sizeBytes,
      diskFormat,
      url: signImageUrl(this.config.NUBO_IMAGE_INTERNAL_URL, image.id, this.config.NUBO_INTERNAL_SECRET, URL_TTL_S),
    };
    // Read defensively: an older image store may answer without properties.
    const properties = (image as { properties?: Record<string, unknown> }).properties;
    return { source, accelerator: acceleratorOf(image.id, properties), diskBus: diskBusOf(image.id, properties) };
  }
}
