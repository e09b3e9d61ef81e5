/**
 * Host traits in Placement's vocabulary: standard names (HW_CPU_X86_AVX2, COMPUTE_...) are reported
 * by each host's agent, CUSTOM_* names are set by admins. A PUT replaces the admin-set ones only.
 */
import { HostTraitSource } from '@nubo/database';
import { EntityManager } from 'typeorm';
import { invalid, onlyKeys, requireObject } from '../common/validation';

type Db = Pick<EntityManager, 'query'>;

/** Placement's rule for custom traits. */
export const CUSTOM_TRAIT = /^CUSTOM_[A-Z0-9_]{1,250}$/;

export interface HostTrait {
  name: string;
  source: HostTraitSource;
}

/** PUT body {"traits": ["CUSTOM_...", ...]}: unique custom names. */
export function parseTraitsBody(body: unknown): string[] {
  const top = requireObject(body, 'body');
  onlyKeys(top, 'body', ['traits']);
  const traits = top.traits;
  if (traits === undefined) invalid('traits', traits, `'traits' is a required property`);
  if (!Array.isArray(traits)) invalid('traits', traits, `${JSON.stringify(traits)} is not of type 'array'`);
  const seen = new Set<string>();
  for (const t of traits as unknown[]) {
    if (typeof t !== 'string') invalid('traits', traits, `${JSON.stringify(t)} is not of type 'string'`);
    if (!CUSTOM_TRAIT.test(t as string)) invalid('traits', traits, `${JSON.stringify(t)} does not match '${CUSTOM_TRAIT.source}'`);
    if (seen.has(t as string)) invalid('traits', traits, `${JSON.stringify(t)} is given more than once`);
    seen.add(t as string);
  }
  return [...seen];
}

export async function loadTraits(db: Db, hostId: string): Promise<HostTrait[]> {
  const rows: Array<{ trait: string; source: HostTraitSource }> = await db.query(
    `SELECT trait, source FROM compute.host_traits WHERE host_id = $1 ORDER BY trait`,
    [hostId],
  );
  return rows.map((r) => ({ name: r.trait, source: r.source }));
}

/**
 * Makes `traits` the host's admin-set traits, serialised per host. A trait its agent already
 * reports keeps source "agent".
 */
export async function replaceAdminTraits(db: Db, hostId: string, traits: string[]): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`nubo-host-traits:${hostId}`]);
  await db.query(`DELETE FROM compute.host_traits WHERE host_id = $1 AND source = 'admin' AND NOT (trait = ANY($2::text[]))`, [hostId, traits]);
  await db.query(
    `INSERT INTO compute.host_traits (host_id, trait, source) SELECT $1, t, 'admin' FROM unnest($2::text[]) AS t
     ON CONFLICT (host_id, trait) DO NOTHING`,
    [hostId, traits],
  );
}
