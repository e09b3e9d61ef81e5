/**
 * What an agent is told to run for a server: its flavor as it was at create time and, when it
 * boots from an image, where to download the image (a short-lived URL signed for the image store).
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, ImageOps, ImageSource, InstanceSpec, signImageUrl, subjects } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';

const URL_TTL_S = 3600;

@Injectable()
export class InstanceSpecBuilder {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async build(server: ServerEntity, requestId = server.requestId): Promise<InstanceSpec> {
    const spec: InstanceSpec = { serverId: server.id, vcpus: server.flavor.vcpus, ramMb: server.flavor.ramMb, diskGb: server.flavor.diskGb };
    if (server.imageRef) spec.image = await this.imageSource(server.imageRef, server.projectId, requestId);
    return spec;
  }

  private async imageSource(imageId: string, projectId: string, requestId: string): Promise<ImageSource> {
    const image = await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId, projectId }, { requestId });
    if (image.status !== 'active' || !image.sha256 || image.sizeBytes === null) {
      throw new ConflictError(`Image ${imageId} is not active`);
    }
    const diskFormat = image.diskFormat as ImageSource['diskFormat'];
    if (!['raw', 'qcow2', 'iso'].includes(diskFormat)) throw new ConflictError(`Image ${imageId} has disk format ${diskFormat}`);
    return {
      id: image.id,
      sha256: image.sha256,
      sizeBytes: image.sizeBytes,
      diskFormat,
      url: signImageUrl(this.config.NUBO_IMAGE_INTERNAL_URL, image.id, this.config.NUBO_INTERNAL_SECRET, URL_TTL_S),
    };
  }
}
