/** Puts a server in ERROR with a Nova-style fault and frees what it held, in one transaction. */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { VmState } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { PlacementService } from '../placement/placement.service';

@Injectable()
export class ServerFaults {
  private readonly logger = new Logger(ServerFaults.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
  ) {}

  /** `details` is shown to admins only (host names, raw errors). */
  async fail(serverId: string, message: string, options: { releaseClaims: boolean; details?: string }): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (options.releaseClaims) await this.placement.release(tx, serverId);
      await tx.query(
        `UPDATE compute.servers SET vm_state = $2, task_state = NULL, updated_at = now(),
                host_id = CASE WHEN $4 THEN NULL ELSE host_id END, fault = $3
          WHERE id = $1 AND deleted_at IS NULL AND task_state IS DISTINCT FROM 'deleting'`,
        [
          serverId,
          VmState.Error,
          { code: 500, message, created: new Date().toISOString(), ...(options.details ? { details: options.details } : {}) },
          options.releaseClaims,
        ],
      );
    });
    this.logger.warn(`server ${serverId} ERROR: ${message}`);
  }
}
