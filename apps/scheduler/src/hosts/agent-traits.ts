/**
 * The traits a host's agent reports (source 'agent' in compute.host_traits), written only when
 * the set changed: each scheduler remembers the last set it saw or wrote per host, so a steady
 * host costs one comparison per heartbeat (and one read after a scheduler starts). Admin-set
 * traits (source 'admin', CUSTOM_*) are never touched; a standard name an admin could not set
 * anyway. The exception: CUSTOM_NUBO_SHARED_STORAGE, which only the agent knows. Replacement runs under the same per-host advisory lock as the admin PUT.
 */
import { SHARED_STORAGE_TRAIT } from '@nubo/contracts';
import { EntityManager } from 'typeorm';

type Db = Pick<EntityManager, 'query' | 'transaction'>;
type Tx = Pick<EntityManager, 'query'>;

/** Standard (non-CUSTOM_) names in Placement's alphabet; anything else in a heartbeat is dropped. */
const STANDARD_TRAIT = /^(?!CUSTOM_)[A-Z0-9_]{1,255}$/;

/** The one custom trait an agent reports itself: it mounts the cloud's shared storage. */
const AGENT_CUSTOM_TRAITS = new Set([SHARED_STORAGE_TRAIT]);

export function agentTraitSet(reported: ReadonlyArray<unknown>): string[] {
  return [...new Set(reported.filter((t): t is string => typeof t === 'string' && (STANDARD_TRAIT.test(t) || AGENT_CUSTOM_TRAITS.has(t))))].sort();
}

/** Makes `traits` the host's agent-reported traits. */
export async function replaceAgentTraits(tx: Tx, hostId: string, traits: string[]): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`nubo-host-traits:${hostId}`]);
  await tx.query(`DELETE FROM compute.host_traits WHERE host_id = $1 AND source = 'agent' AND NOT (trait = ANY($2::text[]))`, [hostId, traits]);
  await tx.query(
    `INSERT INTO compute.host_traits (host_id, trait, source) SELECT $1, t, 'agent' FROM unnest($2::text[]) AS t
     ON CONFLICT (host_id, trait) DO NOTHING`,
    [hostId, traits],
  );
}

export class AgentTraits {
  private readonly known = new Map<string, string>();

  constructor(private readonly db: Db) {}

  /** Called with each heartbeat's traits (undefined: an agent that reports none; left alone). */
  async sync(hostId: string, reported: ReadonlyArray<unknown> | undefined): Promise<boolean> {
    if (reported === undefined) return false;
    const traits = agentTraitSet(reported);
    const key = traits.join(' ');
    if (this.known.get(hostId) === key) return false;
    const stored: Array<{ trait: string }> = await this.db.query(
      `SELECT trait FROM compute.host_traits WHERE host_id = $1 AND source = 'agent' ORDER BY trait`,
      [hostId],
    );
    const changed = stored.map((r) => r.trait).sort().join(' ') !== key;
    if (changed) await this.db.transaction((tx) => replaceAgentTraits(tx, hostId, traits));
    this.known.set(hostId, key);
    return changed;
  }

  /** Forget a host (e.g. its row was deleted): the next heartbeat compares with the database again. */
  forget(hostId: string): void {
    this.known.delete(hostId);
  }
}
