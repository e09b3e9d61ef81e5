/**
 * One scheduling decision, pure: the filters in order (each sees the hosts the previous ones
 * kept; the first that leaves none ends it), then the weighers over what is left, the way Nova's
 * FilterScheduler does it: each weigher's raw scores are normalized min-max to 0..1 over the
 * remaining hosts (all equal: 0), times the weigher's multiplier, summed. Best first; ties go
 * to the host id in order, so a decision is reproducible. The explanation says which host each
 * filter removed and why, and the weights of the best hosts.
 *
 * With `feasibleTarget`, a large cloud is examined in windows from `start` on (wrapping), and the
 * examination stops once that many hosts passed every filter: Kubernetes' scheduler does the same
 * (percentageOfNodesToScore), since past a few hundred feasible hosts a better one is rarely
 * found, and different starts keep racing schedulers off each other's picks. A "no valid host"
 * is only said after every host was examined.
 */
import { FilterContext, HostCandidate, HostFilter, HostWeigher, PlacementExplanation, PlacementRequest } from './placement-types';

export interface Pipeline {
  filters: ReadonlyArray<HostFilter>;
  weighers: ReadonlyArray<HostWeigher>;
}

export interface ScheduleOptions {
  /**
   * Removed hosts listed per filter in the explanation (the rest are counted). Default 10: the
   * record is written with every claim, so its size is paid per placement.
   */
  maxRemovedListed?: number;
  /** Weighed hosts listed in the explanation, best first. Default 5. */
  maxWeighedListed?: number;
  /**
   * Rank only the best N hosts (the choice and its alternates; Nova keeps max_attempts - 1
   * alternates): a selection instead of a sort of every host. Default: all, best first.
   */
  limit?: number;
  /** Nova's host_subset_size: pick at random among the best N (spreads racing schedulers). Default 1. */
  hostSubsetSize?: number;
  random?: () => number;
  /** Stop filtering once this many hosts passed every filter (default: examine every host). */
  feasibleTarget?: number;
  /** Where the examination starts (an index into the hosts, wrapping). Default 0. */
  start?: number;
}

export interface ScheduleResult {
  /** Hosts that passed every filter, best first: [0] is the choice, the rest its alternates. */
  ranked: HostCandidate[];
  explanation: PlacementExplanation;
}

/** Nova's NoValidHost wording, plus which filter emptied the list (its distinct reasons, without host names). */
export function noValidHostReason(filter: string | null, reasons: ReadonlyArray<string>, count: number): string {
  const base = 'There are not enough hosts available.';
  if (filter === null) return `${base} There are no hosts to choose from.`;
  const shown = reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? '; and others' : '');
  return `${base} Filter ${filter} removed the last ${count} host(s): ${shown}`;
}

/**
 * How many feasible hosts a decision looks for before it stops filtering: `percent` of the cloud,
 * or with 0 Kubernetes' adaptive default (50% at 0 hosts, 5 points less per 625 hosts, at
 * least 5%), never fewer than 100 (small clouds are examined whole).
 */
export function hostsToScore(hosts: number, percent: number): number {
  if (percent >= 100) return hosts;
  const p = percent > 0 ? percent : Math.max(5, 50 - hosts / 125);
  return Math.min(hosts, Math.max(100, Math.ceil((hosts * p) / 100)));
}

/** Six decimals are plenty to read; `+ 0` turns -0 into 0. */
const round = (n: number) => Math.round(n * 1e6) / 1e6 + 0;

export function schedule(
  hosts: ReadonlyArray<HostCandidate>,
  request: PlacementRequest,
  pipeline: Pipeline,
  options: ScheduleOptions = {},
): ScheduleResult {
  const maxRemoved = options.maxRemovedListed ?? 10;
  const context: FilterContext = { allHosts: hosts };
  const explanation: PlacementExplanation = { filters: [], weighed: [], chosen: null };
  if (hosts.length === 0) {
    explanation.noValidHost = noValidHostReason(null, [], 0);
    return { ranked: [], explanation };
  }

  const n = hosts.length;
  const target = Math.max(1, options.feasibleTarget ?? n);
  const start = ((options.start ?? 0) % n + n) % n;
  // Hosts from `start`, wrapping, without copying when the whole list is examined from 0.
  const window = (from: number, size: number): ReadonlyArray<HostCandidate> => {
    if (start === 0 && from === 0 && size === n) return hosts;
    const out: HostCandidate[] = new Array(size);
    for (let i = 0; i < size; i++) out[i] = hosts[(start + from + i) % n];
    return out;
  };
  const stats = pipeline.filters.map(() => ({ in: 0, removed: {} as Record<string, string>, count: 0, reasons: new Set<string>() }));
  const feasible: HostCandidate[] = [];
  let examined = 0;
  while (examined < n && feasible.length < target) {
    // The first window is the target itself (most filters keep most hosts), then what is missing.
    const size = Math.min(n - examined, Math.max(target - feasible.length, 64));
    let current = window(examined, size);
    examined += size;
    for (let f = 0; f < pipeline.filters.length && current.length > 0; f++) {
      const filter = pipeline.filters[f];
      const stat = stats[f];
      stat.in += current.length;
      if (filter.appliesTo && !filter.appliesTo(request, context)) continue;
      // A filter that removes nothing (the usual case) copies nothing.
      let kept: HostCandidate[] | null = null;
      for (let i = 0; i < current.length; i++) {
        const host = current[i];
        const reason = filter.reject(host, request, context);
        if (reason === null) {
          kept?.push(host);
          continue;
        }
        kept ??= current.slice(0, i);
        if (stat.count++ < maxRemoved) stat.removed[host.id] = reason;
        // Distinct reasons, for a NoValidHost message (one more than it shows, to say there are more).
        if (stat.reasons.size < 6) stat.reasons.add(reason);
      }
      current = kept ?? current;
    }
    for (const host of current) feasible.push(host);
  }

  pipeline.filters.forEach((filter, f) => {
    const stat = stats[f];
    if (stat.in === 0) return;
    const entry: PlacementExplanation['filters'][number] = { name: filter.name, in: stat.in, removed: stat.removed };
    if (stat.count > maxRemoved) entry.removedOmitted = stat.count - maxRemoved;
    explanation.filters.push(entry);
  });
  if (examined < n) explanation.notExamined = n - examined;
  if (feasible.length === 0) {
    // Every host was examined; the last filter any of them reached removed all that reached it.
    const last = stats.reduce((at, stat, f) => (stat.in > 0 ? f : at), -1);
    explanation.noValidHost = noValidHostReason(pipeline.filters[last].name, [...stats[last].reasons], stats[last].in);
    return { ranked: [], explanation };
  }
  const current = feasible;

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

  const maxWeighed = options.maxWeighedListed ?? 5;
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
