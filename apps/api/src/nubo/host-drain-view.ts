/**
 * The report of a host drain (pure): per server the live migration started for it (Nova's
 * integer id and the record's uuid), its status, and the error when it did not complete or
 * could not start. `done` once nothing is in flight; `drained` once no server is left on the host.
 */
export interface DrainServerRow {
  server_id: string;
  migration_uuid: string | null;
  migration_number: string | number | null;
  migration_status: string | null;
  outcome: string | null;
  error: string | null;
  server_host: string | null;
  server_status_vm: string | null;
}

export interface DrainRow {
  id: string;
  host_id: string;
  created_at: Date;
  undrained_at: Date | null;
}

/** A live migration in these is still moving. */
const IN_FLIGHT = new Set(['queued', 'preparing', 'running', 'post-migrating']);

export function drainServerView(r: DrainServerRow) {
  const status = r.migration_status ?? (r.error ? 'not-started' : 'unknown');
  const failed = r.migration_status === 'error' || r.migration_status === 'cancelled';
  return {
    server_id: r.server_id,
    migration_id: r.migration_number === null ? null : Number(r.migration_number),
    migration_uuid: r.migration_uuid,
    status,
    error: r.error ?? (failed ? r.outcome ?? r.migration_status : null),
    host: r.server_host,
  };
}

export function drainView(d: DrainRow, hostState: string, servers: DrainServerRow[], remaining: number) {
  const views = servers.map(drainServerView);
  return {
    drain: {
      id: d.id,
      host: d.host_id,
      host_state: hostState,
      started_at: d.created_at,
      undrained_at: d.undrained_at,
      servers: views,
      done: views.every((s) => !IN_FLIGHT.has(s.status)),
      remaining_servers: remaining,
    },
  };
}
