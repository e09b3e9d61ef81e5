/** The admin view of a stored scheduling decision (compute.placement_decisions), snake_case like the rest of the API. Pure. */

interface StoredExplanation {
  filters?: Array<{ name: string; in: number; removed: Record<string, string>; removedOmitted?: number }>;
  weighed?: Array<{ host: string; total: number; weights: Record<string, number> }>;
  chosen?: string | null;
  weighedOmitted?: number;
  notExamined?: number;
  noValidHost?: string;
}

export interface DecisionRow {
  attempt: number;
  request_id: string | null;
  host_id: string | null;
  explanation: StoredExplanation | null;
  failure: string | null;
  failed_at: Date | string | null;
  created_at: Date | string;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function placementDecisionView(row: DecisionRow): Record<string, unknown> {
  const e = row.explanation;
  return {
    attempt: row.attempt,
    request_id: row.request_id,
    created_at: iso(row.created_at),
    host: row.host_id,
    filters: (e?.filters ?? []).map((f) => ({
      name: f.name,
      hosts_in: f.in,
      removed: f.removed,
      ...(f.removedOmitted ? { removed_not_listed: f.removedOmitted } : {}),
    })),
    weighed: (e?.weighed ?? []).map((w) => ({ host: w.host, total: w.total, weights: w.weights })),
    ...(e?.weighedOmitted ? { weighed_not_listed: e.weighedOmitted } : {}),
    // Hosts the decision did not look at: enough others had passed every filter.
    ...(e?.notExamined ? { hosts_not_examined: e.notExamined } : {}),
    no_valid_host: e?.noValidHost ?? null,
    spawn_failure: row.failed_at ? { reason: row.failure, at: iso(row.failed_at) } : null,
  };
}
