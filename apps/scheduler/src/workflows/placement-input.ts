/**
 * What the scheduler is asked for when it places a server: the flavor's shape and extra specs,
 * the image's properties (from the image store), the zone or forced host given at create, and
 * the hosts where a spawn of this server already failed (reschedule), with the decision's number.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ImageOps, subjects } from '@nubo/contracts';
import { FlavorEntity, ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { placementHistory } from '../placement/placement-decisions';
import { PlacementRequest } from '../placement/placement-types';

export type PlacementInput = Omit<PlacementRequest, 'serverId' | 'group'>;

const asStrings = (o: Record<string, unknown> | null | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));

@Injectable()
export class PlacementInputBuilder {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  async build(server: ServerEntity, requestId: string): Promise<{ input: PlacementInput; attempt: number }> {
    const history = await placementHistory(this.db, server.id);
    const [extraSpecs, imageProperties] = await Promise.all([this.extraSpecs(server), this.imageProperties(server, requestId)]);
    return {
      attempt: history.attempt,
      input: {
        projectId: server.projectId,
        vcpus: server.flavor.vcpus,
        ramMb: server.flavor.ramMb,
        diskGb: server.flavor.diskGb,
        extraSpecs,
        imageProperties,
        availabilityZone: server.availabilityZone ?? null,
        forcedHost: server.forcedHost ?? null,
        excludedHosts: history.excludedHosts,
      },
    };
  }

  /** The embedded flavor's extra specs when it carries them, else the flavor row's (a deleted flavor: none). */
  private async extraSpecs(server: ServerEntity): Promise<Record<string, string>> {
    const embedded = (server.flavor as { extraSpecs?: Record<string, unknown> }).extraSpecs;
    if (embedded !== undefined) return asStrings(embedded);
    const row = await this.db.getRepository(FlavorEntity).findOneBy({ id: server.flavorId });
    return asStrings(row?.extraSpecs);
  }

  private async imageProperties(server: ServerEntity, requestId: string): Promise<Record<string, string>> {
    if (!server.imageRef) return {};
    const image = await this.rpc.call(
      subjects.service('image', ImageOps.get.op),
      ImageOps.get,
      { imageId: server.imageRef, projectId: server.projectId },
      { requestId },
    );
    return asStrings(image.properties);
  }
}
