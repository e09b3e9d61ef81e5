/**
 * The QEMU driver's cold migration (ColdMigrationDriver): the destination side in
 * qemu-cold-migration-incoming, the source side in qemu-cold-migration-outgoing, the command
 * lines in qemu-disk-transfer, the listener's firewall shared with live migration
 * (migration-listener-firewall: one chain per migration id, its own port range).
 */
import { ColdDisksReply, ColdPrepareReply, ColdTransferReply, InstanceStatus, NotFoundError } from '@nubo/contracts';
import { ColdFinishInput, ColdMigrationDriver, ColdPrepareInput, ColdTransferInput } from '../cold-migration-driver';
import { MigrationIds } from '../live-migration-driver';
import { MigrationFirewallOptions, MigrationListenerFirewall } from './migration-listener-firewall';
import { ColdPortRange, QemuColdMigrationIncoming } from './qemu-cold-migration-incoming';
import { QemuColdMigrationOutgoing } from './qemu-cold-migration-outgoing';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher } from './qemu-launcher';
import { QemuPower } from './qemu-power';

export interface ColdMigrationOptions {
  netns?: string;
  /** Listener ports of the destination's qemu-nbd. */
  ports?: ColdPortRange;
  /** The nftables table of the openings (the live migrations' by default). */
  firewall?: MigrationFirewallOptions;
  qemuNbdBinary?: string;
  qemuImgBinary?: string;
}

export class QemuColdMigration implements ColdMigrationDriver {
  private readonly incoming: QemuColdMigrationIncoming;
  private readonly outgoing: QemuColdMigrationOutgoing;

  constructor(
    private readonly instances: QemuInstances,
    launcher: QemuLauncher,
    power: QemuPower,
    options: ColdMigrationOptions = {},
  ) {
    const firewall = new MigrationListenerFirewall({ netns: options.netns, ...options.firewall });
    this.incoming = new QemuColdMigrationIncoming(instances, launcher, power, firewall, options);
    this.outgoing = new QemuColdMigrationOutgoing(instances, launcher, options);
  }

  async disks(ids: MigrationIds): Promise<ColdDisksReply> {
    return this.outgoing.disks(await this.known(ids.serverId));
  }

  prepare(input: ColdPrepareInput): Promise<ColdPrepareReply> {
    return this.incoming.prepare(input);
  }

  async transfer(input: ColdTransferInput): Promise<ColdTransferReply> {
    return this.outgoing.transfer(await this.known(input.serverId), input);
  }

  finish(input: ColdFinishInput): Promise<InstanceStatus> {
    return this.incoming.finish(input);
  }

  abort(ids: MigrationIds): Promise<boolean> {
    return this.incoming.abort(ids);
  }

  private async known(serverId: string): Promise<QemuInstance> {
    const instance = await this.instances.find(serverId);
    if (!instance) throw new NotFoundError(`server ${serverId} is not on this host`, { serverId });
    return instance;
  }
}
