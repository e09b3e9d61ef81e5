/**
 * The claim of servers in `scheduling` on the hosts their decisions chose: ONE statement for any
 * number of servers, each claim all or nothing on its own:
 *   found   locks the server row if it is still `scheduling`, and says if it is in a group;
 *   server  the found ones, but for those in a group when the claim says `ungroupedOnly` (a
 *           member is placed under its group's lock instead, see PlacementService);
 *   host    the host's conditional UPDATE (capacity on the row as it is at that instant, state
 *           `up`, and the placement metadata version the decision saw: see migration
 *           1732550012000), only if the server is there;
 *   moved   the server's move to the host (task state spawning), only if the host took it;
 *   then the allocation and the decision's record (compute.placement_decisions, the row
 *   recordPlacementDecision writes), only if the server moved.
 * Run alone it commits by itself, so a batch costs one round trip and one commit however many
 * servers it places (ClaimBatcher groups them). Two claims of one batch on one host would take
 * one join row only (UPDATE ... FROM), so a batch has at most one claim per host; its hosts are
 * sorted by id, which the nested loop over `server` locks them in, so two batches do not wait
 * on each other in a cycle (should they, PostgreSQL's deadlock error loses the batch, whose
 * claims are then tried again).
 */
import { Pool, PoolClient } from 'pg';
import { HostUsageRow, USAGE_RETURNING, fitsSql } from './host-usage';
import { PlacementExplanation } from './placement-types';

export interface ServerClaim {
  serverId: string;
  hostId: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  /** The decision's number for the record (reschedules count up). */
  attempt: number;
  explanation: PlacementExplanation;
  /** Refuse a server that is in a group (its claim must run under the group's lock). */
  ungroupedOnly: boolean;
  /** The placement metadata version of the host list the decision was made on. */
  metadataVersion: string;
}

/** One claim's result. */
export interface ClaimRow {
  server_id: string;
  /** 0: the server left `scheduling`, or it is in a group and the claim was `ungroupedOnly` (`grouped` says which). */
  schedulable: number;
  grouped: boolean;
  /** The metadata moved since the decision's host list was loaded: decide again on a full load. */
  stale: boolean;
  /** The host's counters after the claim; null when it refused (down, disabled, full on fresh numbers, stale). */
  generation: string | null;
  used_vcpus: number | null;
  used_ram_mb: number | null;
  used_disk_gb: number | null;
  instances: number | null;
}

const METADATA_VERSION = `(SELECT version FROM compute.placement_metadata WHERE id = 1)`;

export const CLAIM_SERVERS_SQL = `WITH req AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
      AS r(server_id uuid, host_id text, want_vcpus int, want_ram_mb int, want_disk_gb int, attempt int, explanation jsonb,
           ungrouped_only boolean, metadata_version bigint)),
  found AS (
    -- LATERAL: one index probe per claim (the planner cannot know how few rows the batch has).
    SELECT req.*, s.id, s.request_id, s.grouped
      FROM req CROSS JOIN LATERAL (
        SELECT s.id, s.request_id, EXISTS (SELECT 1 FROM compute.server_group_members m WHERE m.server_id = s.id) AS grouped
          FROM compute.servers s
         WHERE s.id = req.server_id AND s.task_state = 'scheduling' AND s.deleted_at IS NULL
           FOR UPDATE OF s) AS s),
  server AS (SELECT * FROM found WHERE NOT (ungrouped_only AND grouped)),
  host AS (
    UPDATE compute.hosts h SET used_vcpus = h.used_vcpus + server.want_vcpus, used_ram_mb = h.used_ram_mb + server.want_ram_mb,
           used_disk_gb = h.used_disk_gb + server.want_disk_gb, instances = h.instances + 1, generation = h.generation + 1
      FROM server
     WHERE h.id = server.host_id AND h.state = 'up'
       AND ${fitsSql({ vcpus: 'server.want_vcpus', ramMb: 'server.want_ram_mb', diskGb: 'server.want_disk_gb' })}
       AND server.metadata_version = ${METADATA_VERSION}
     RETURNING server.id AS server_id, h.id AS host_id, ${USAGE_RETURNING.split(', ').map((c) => `h.${c}`).join(', ')}),
  moved AS (
    UPDATE compute.servers s SET host_id = host.host_id, task_state = 'spawning', updated_at = now()
      FROM host WHERE s.id = host.server_id
     RETURNING s.id),
  allocation AS (
    INSERT INTO compute.allocations (consumer_id, host_id, vcpus, ram_mb, disk_gb)
    SELECT server.id, server.host_id, server.want_vcpus, server.want_ram_mb, server.want_disk_gb FROM server JOIN moved ON moved.id = server.id
    RETURNING 1),
  decision AS (
    INSERT INTO compute.placement_decisions (server_id, attempt, request_id, host_id, explanation)
    SELECT server.id, server.attempt, server.request_id, server.host_id, server.explanation FROM server JOIN moved ON moved.id = server.id
    RETURNING 1)
  SELECT req.server_id, (server.id IS NOT NULL)::int AS schedulable, COALESCE(found.grouped, false) AS grouped,
         req.metadata_version <> ${METADATA_VERSION} AS stale,
         host.generation, host.used_vcpus, host.used_ram_mb, host.used_disk_gb, host.instances
    FROM req LEFT JOIN found ON found.id = req.server_id LEFT JOIN server ON server.id = req.server_id
         LEFT JOIN host ON host.server_id = req.server_id`;

/** Runs the claims (at most one per host) in one statement; results in the claims' order. */
export async function claimServers(db: Pool | PoolClient, claims: ReadonlyArray<ServerClaim>): Promise<ClaimRow[]> {
  const sorted = [...claims].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  // One JSON document for the batch: cheaper to build and to parse than nine arrays of escaped elements.
  const batch = sorted.map((c) => ({
    server_id: c.serverId,
    host_id: c.hostId,
    want_vcpus: c.vcpus,
    want_ram_mb: c.ramMb,
    want_disk_gb: c.diskGb,
    attempt: c.attempt,
    explanation: c.explanation,
    ungrouped_only: c.ungroupedOnly,
    metadata_version: c.metadataVersion,
  }));
  const { rows } = await db.query<ClaimRow>({ name: 'nubo-claim-servers', text: CLAIM_SERVERS_SQL, values: [JSON.stringify(batch)] });
  const byServer = new Map(rows.map((r) => [r.server_id, r]));
  return claims.map((c) => byServer.get(c.serverId)!);
}

/** The host counters a successful claim left (for the candidate cache). */
export const usageOf = (row: ClaimRow): HostUsageRow | undefined =>
  row.generation === null
    ? undefined
    : { generation: row.generation, used_vcpus: row.used_vcpus!, used_ram_mb: row.used_ram_mb!, used_disk_gb: row.used_disk_gb!, instances: row.instances! };
