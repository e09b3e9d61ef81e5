/**
 * Group commit for the claims of one scheduler process: claims decided while a claim statement
 * is running wait for it and then go together in the next one (server-claims.ts), so under load
 * a statement, its round trip and its commit serve many placements, and when idle a claim goes at
 * once. A batch holds at most one claim per host (the statement's rule); the others wait for the
 * next batch, in order. A deadlock between two schedulers' batches (possible only if PostgreSQL
 * ever locked their hosts out of id order) rolls the batch back: its claims come back `stale`,
 * which makes their callers decide again.
 */
import { Pool } from 'pg';
import { ClaimRow, ServerClaim, claimServers } from './server-claims';

export interface ClaimBatcherOptions {
  /** Claims per statement at most. */
  maxBatch: number;
  /** Claim statements running at once (each on its own connection). */
  maxInFlight: number;
}

interface Waiting {
  claim: ServerClaim;
  resolve: (row: ClaimRow) => void;
  reject: (error: unknown) => void;
}

const DEADLOCK = '40P01';

export class ClaimBatcher {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Statements run and claims they carried (the benchmark's profile). */
  statements = 0;
  claims = 0;

  constructor(
    private readonly pool: Pool,
    private readonly options: ClaimBatcherOptions,
  ) {}

  claim(claim: ServerClaim): Promise<ClaimRow> {
    return new Promise<ClaimRow>((resolve, reject) => {
      this.queue.push({ claim, resolve, reject });
      // Claims decided in the same turn of the event loop go together.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight++;
      this.statements++;
      this.claims += batch.length;
      claimServers(
        this.pool,
        batch.map((w) => w.claim),
      )
        .then(
          (rows) => batch.forEach((w, i) => w.resolve(rows[i])),
          (error: { code?: string }) => {
            if (error?.code === DEADLOCK) batch.forEach((w) => w.resolve(staleRow(w.claim.serverId)));
            else batch.forEach((w) => w.reject(error));
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** The next batch: queue order, one claim per host, up to maxBatch; the rest keep their places. */
  private take(): Waiting[] {
    const batch: Waiting[] = [];
    const hosts = new Set<string>();
    for (let i = 0; i < this.queue.length && batch.length < this.options.maxBatch; ) {
      const w = this.queue[i];
      if (hosts.has(w.claim.hostId)) {
        i++;
        continue;
      }
      hosts.add(w.claim.hostId);
      batch.push(w);
      this.queue.splice(i, 1);
    }
    return batch;
  }
}

function staleRow(serverId: string): ClaimRow {
  return { server_id: serverId, schedulable: 1, grouped: false, stale: true, generation: null, used_vcpus: null, used_ram_mb: null, used_disk_gb: null, instances: null };
}
