/**
 * The QEMU driver's live migration (LiveMigrationDriver): the destination side in
 * qemu-migration-incoming, the source side in qemu-migration-outgoing, QMP arguments and status
 * in migration-params, the listener's firewall in migration-listener-firewall.
 */
import { MigrationPrepareReply, MigrationStatusReply, NotFoundError } from '@nubo/contracts';
import { LiveMigrationDriver, MigrationIds, PrepareIncoming, StartOutgoing } from '../live-migration-driver';
import { MigrationListenerFirewall, MigrationFirewallOptions } from './migration-listener-firewall';
import { MigrationPortRange, QemuMigrationIncoming } from './qemu-migration-incoming';
import { QemuMigrationOutgoing } from './qemu-migration-outgoing';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuLauncher } from './qemu-launcher';
import { QemuPower } from './qemu-power';

export interface LiveMigrationOptions {
  /** Listener ports for incoming migrations (migration stream and NBD). */
  ports?: MigrationPortRange;
  /** The nftables table of the openings, in the host's netns. */
  firewall?: MigrationFirewallOptions;
}

export class QemuLiveMigration implements LiveMigrationDriver {
  private readonly incoming: QemuMigrationIncoming;
  private readonly outgoing: QemuMigrationOutgoing;

  constructor(
    private readonly instances: QemuInstances,
    launcher: QemuLauncher,
    power: QemuPower,
    options: LiveMigrationOptions & { netns?: string } = {},
  ) {
    const firewall = new MigrationListenerFirewall({ netns: options.netns, ...options.firewall });
    this.incoming = new QemuMigrationIncoming(instances, launcher, firewall, options.ports);
    this.outgoing = new QemuMigrationOutgoing(instances, launcher, power);
  }

  prepare(input: PrepareIncoming): Promise<MigrationPrepareReply> {
    return this.incoming.prepare(input);
  }

  async start(input: StartOutgoing): Promise<void> {
    return this.outgoing.start(await this.known(input.serverId), input);
  }

  async status(ids: MigrationIds): Promise<MigrationStatusReply> {
    return this.outgoing.status(await this.instances.find(ids.serverId), ids);
  }

  async adjust(ids: MigrationIds, change: { downtimeLimitMs?: number; startPostcopy?: boolean }): Promise<void> {
    return this.outgoing.adjust(await this.known(ids.serverId), ids, change);
  }

  async cancel(ids: MigrationIds): Promise<boolean> {
    return this.outgoing.cancel(await this.instances.find(ids.serverId), ids);
  }

  finish(ids: MigrationIds): Promise<void> {
    return this.incoming.finish(ids);
  }

  abortDestination(ids: MigrationIds): Promise<boolean> {
    return this.incoming.abort(ids);
  }

  async cleanupSource(ids: MigrationIds): Promise<boolean> {
    return this.outgoing.cleanupSource(await this.instances.find(ids.serverId), ids);
  }

  async dirtyRate(ids: MigrationIds, seconds: number): Promise<number> {
    return this.outgoing.dirtyRate(await this.known(ids.serverId), seconds);
  }

  /** Lets go of the destination QEMUs' monitors (the agent stops; the QEMUs run on). */
  close(): void {
    this.incoming.close();
  }

  private async known(serverId: string): Promise<QemuInstance> {
    const instance = await this.instances.find(serverId);
    if (!instance) throw new NotFoundError(`server ${serverId} is not on this host`, { serverId });
    return instance;
  }
}
