/**
 * One scheduling decision, pure: the filters in order (each sees the hosts the previous ones
 * kept; the first that leaves none ends it), then the weighers over what is left, the way Nova's
 * FilterScheduler does it: each weigher's raw scores are normalized min-max to 0..1 over the
 * remaining hosts (all equal: 0), times the weigher's multiplier, summed. Best first; ties go
 * to the host id in order, so a decision is reproducible. The explanation says which host each
 * filter removed and why, and the weights of the best hosts.
 */
import { FilterContext, HostCandidate, HostFilter, HostWeigher, PlacementExplanation, PlacementRequest } from './placement-types';

export interface Pipeline {
  filters: ReadonlyArray<HostFilter>;
  weighers: ReadonlyArray<HostWeigher>;
}

export interface ScheduleOptions {
  /** Removed hosts listed per filter in the explanation (the rest are counted). Default 100. */
  maxRemovedListed?: number;
  /** Weighed hosts listed in the explanation, best first. Default 20. */
  maxWeighedListed?: number;
  /**
   * Rank only the best N hosts (the choice and its alternates; Nova keeps max_attempts - 1
   * alternates): a selection instead of a sort of every host. Default: all, best first.
   */
  limit?: number;
  /** Nova's host_subset_size: pick at random among the best N (spreads racing schedulers). Default 1. */
  hostSubsetSize?: number;
  random?: () => number;
}

export interface ScheduleResult {
  /** Hosts that passed every filter, best first: [0] is the choice, the rest its alternates. */
  ranked: HostCandidate[];
  explanation: PlacementExplanation;
}

/** Nova's NoValidHost wording, plus which filter emptied the list (reasons without host names). */
export function noValidHostReason(filter: string | null, removed: Record<string, string>, count: number): string {
  const base = 'There are not enough hosts available.';
  if (filter === null) return `${base} There are no hosts to choose from.`;
  const reasons = [...new Set(Object.values(removed))];
  const shown = reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? `; and ${reasons.length - 5} more` : '');
  return `${base} Filter ${filter} removed the last ${count} host(s): ${shown}`;
}

/** Six decimals are plenty to read; `+ 0` turns -0 into 0. */
const round = (n: number) => Math.round(n * 1e6) / 1e6 + 0;

export function schedule(
  hosts: ReadonlyArray<HostCandidate>,
  request: PlacementRequest,
  pipeline: Pipeline,
  options: ScheduleOptions = {},
): ScheduleResult {
  const maxRemoved = options.maxRemovedListed ?? 100;
  const context: FilterContext = { allHosts: hosts };
  const explanation: PlacementExplanation = { filters: [], weighed: [], chosen: null };
  if (hosts.length === 0) {
    explanation.noValidHost = noValidHostReason(null, {}, 0);
    return { ranked: [], explanation };
  }

  let current: ReadonlyArray<HostCandidate> = hosts;
  for (const filter of pipeline.filters) {
    if (filter.appliesTo && !filter.appliesTo(request)) {
      explanation.filters.push({ name: filter.name, in: current.length, removed: {} });
      continue;
    }
    // A filter that removes nothing (the usual case) copies nothing.
    let kept: HostCandidate[] | null = null;
    const removed: Record<string, string> = {};
    let removedCount = 0;
    for (let i = 0; i < current.length; i++) {
      const host = current[i];
      const reason = filter.reject(host, request, context);
      if (reason === null) {
        kept?.push(host);
        continue;
      }
      kept ??= current.slice(0, i);
      if (removedCount++ < maxRemoved) removed[host.id] = reason;
    }
    const entry: PlacementExplanation['filters'][number] = { name: filter.name, in: current.length, removed };
    if (removedCount > maxRemoved) entry.removedOmitted = removedCount - maxRemoved;
    explanation.filters.push(entry);
    if (kept !== null && kept.length === 0) {
      explanation.noValidHost = noValidHostReason(filter.name, removed, removedCount);
      return { ranked: [], explanation };
    }
    current = kept ?? current;
  }

  const ranked = weighAndRank(current, request, pipeline.weighers, explanation, options);
  return { ranked, explanation };
}

function weighAndRank(
  hosts: ReadonlyArray<HostCandidate>,
  request: PlacementRequest,
  weighers: ReadonlyArray<HostWeigher>,
  explanation: PlacementExplanation,
  options: ScheduleOptions,
): HostCandidate[] {
  const n = hosts.length;
  const totals = new Float64Array(n);
  const parts: Array<{ name: string; weighted: Float64Array }> = [];
  const raw = new Float64Array(n);
  for (const weigher of weighers) {
    if (weigher.multiplier === 0) continue;
    if (weigher.appliesTo && !weigher.appliesTo(request)) {
      parts.push({ name: weigher.name, weighted: new Float64Array(n) });
      continue;
    }
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const w = weigher.weigh(hosts[i], request);
      raw[i] = w;
      if (w < min) min = w;
      if (w > max) max = w;
    }
    const weighted = new Float64Array(n);
    if (max > min) {
      const range = max - min;
      for (let i = 0; i < n; i++) {
        weighted[i] = (weigher.multiplier * (raw[i] - min)) / range;
        totals[i] += weighted[i];
      }
    }
    parts.push({ name: weigher.name, weighted });
  }

  const better = (a: number, b: number) => totals[b] - totals[a] || (hosts[a].id < hosts[b].id ? -1 : hosts[a].id > hosts[b].id ? 1 : 0);
  const order = best(n, Math.min(n, Math.max(1, options.limit ?? n, options.hostSubsetSize ?? 1)), better);
  const subset = Math.min(Math.max(1, options.hostSubsetSize ?? 1), n);
  if (subset > 1) {
    const pick = Math.floor((options.random ?? Math.random)() * subset);
    order.unshift(...order.splice(pick, 1));
  }

  const maxWeighed = options.maxWeighedListed ?? 20;
  for (const i of order.slice(0, maxWeighed)) {
    const weights: Record<string, number> = {};
    for (const p of parts) weights[p.name] = round(p.weighted[i]);
    explanation.weighed.push({ host: hosts[i].id, total: round(totals[i]), weights });
  }
  if (n > Math.min(maxWeighed, order.length)) explanation.weighedOmitted = n - Math.min(maxWeighed, order.length);
  explanation.chosen = hosts[order[0]].id;
  return order.map((i) => hosts[i]);
}

/** The best `k` of indices 0..n-1 by `cmp`, best first: a full sort, or an insertion into k slots when k is small. */
function best(n: number, k: number, cmp: (a: number, b: number) => number): number[] {
  if (k >= n || k > 64) return Array.from({ length: n }, (_, i) => i).sort(cmp).slice(0, k);
  const top: number[] = [];
  for (let i = 0; i < n; i++) {
    if (top.length === k && cmp(i, top[k - 1]) >= 0) continue;
    let at = top.length < k ? top.length : k - 1;
    while (at > 0 && cmp(i, top[at - 1]) < 0) at--;
    top.splice(at, 0, i);
    if (top.length > k) top.pop();
  }
  return top;
}
