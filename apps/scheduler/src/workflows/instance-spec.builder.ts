/** What an agent is told to run for a server: its flavor as it was at create time. */
import { Injectable } from '@nestjs/common';
import { InstanceSpec } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';

@Injectable()
export class InstanceSpecBuilder {
  async build(server: ServerEntity): Promise<InstanceSpec> {
    return { serverId: server.id, vcpus: server.flavor.vcpus, ramMb: server.flavor.ramMb, diskGb: server.flavor.diskGb };
  }
}
