/**
 * The lease epoch of each host, as every command to its agent carries it (the fencing token,
 * host-lease.contract.ts). Read from PostgreSQL for each command, never cached: a host that
 * rejoined has a new epoch at once, and a command with the old one is refused by the agent.
 */
import { Inject, Injectable } from '@nestjs/common';
import { AgentCommand, CommandRefusal, isRefusal } from '@nubo/contracts';
import { DataSource } from 'typeorm';

@Injectable()
export class HostEpochs {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /** Undefined for a host whose agent never joined (an agent without leases: simulated hosts). */
  async current(hostId: string): Promise<number | undefined> {
    const rows: Array<{ epoch: string }> = await this.db.query(`SELECT epoch::text AS epoch FROM compute.host_leases WHERE host_id = $1`, [hostId]);
    return rows[0] ? Number(rows[0].epoch) : undefined;
  }

  /**
   * Sends `build(epoch)` to the host's agent with its current epoch; once more, with the epoch
   * read again, when the agent refused it as stale (the host rejoined between the read and the
   * send: an agent restart). Any other answer or error is the caller's.
   */
  async send<T>(hostId: string, build: (epoch: Pick<AgentCommand, 'epoch'>) => Promise<T>): Promise<T> {
    const first = await this.current(hostId);
    try {
      return await build(first === undefined ? {} : { epoch: first });
    } catch (error) {
      if (!isRefusal(error, CommandRefusal.StaleEpoch)) throw error;
      const now = await this.current(hostId);
      if (now === undefined || now === first) throw error;
      return build({ epoch: now });
    }
  }
}

/** `epochs.send`, or the command without an epoch where no HostEpochs is provided (unit wiring). */
export function sendWithEpoch<T>(epochs: HostEpochs | undefined, hostId: string, build: (epoch: Pick<AgentCommand, 'epoch'>) => Promise<T>): Promise<T> {
  return epochs ? epochs.send(hostId, build) : build({});
}
