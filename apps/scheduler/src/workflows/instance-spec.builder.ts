/**
 * What an agent is told to run for a server: its flavor as it was at create time and, when it
 * boots from an image, where to download the image (a short-lived URL signed for the image store)
 * and the accelerator the image asks for (its `hypervisor_type` property).
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, ImageOps, ImageSource, InstanceSpec, NoValidHostError, signImageUrl, subjects } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
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

@Injectable()
export class InstanceSpecBuilder {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async build(server: ServerEntity, requestId = server.requestId): Promise<InstanceSpec> {
    const spec: InstanceSpec = { serverId: server.id, vcpus: server.flavor.vcpus, ramMb: server.flavor.ramMb, diskGb: server.flavor.diskGb };
    if (server.imageRef) {
      const { source, accelerator } = await this.imageSource(server.imageRef, server.projectId, requestId);
      spec.image = source;
      if (accelerator) spec.accelerator = accelerator;
    }
    return spec;
  }

  private async imageSource(imageId: string, projectId: string, requestId: string): Promise<{ source: ImageSource; accelerator: InstanceSpec['accelerator'] }> {
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
    return { source, accelerator: acceleratorOf(image.id, properties) };
  }
}
