/**
 * Nova's AggregateInstanceExtraSpecsFilter, scoped keys only: every flavor extra spec
 * `aggregate_instance_extra_specs:KEY=VALUE` needs VALUE among the values of KEY in the metadata
 * of the host's aggregates (all of them together; a metadata value "a, b" counts as "a" and "b",
 * as Nova splits it). Comparison is plain string equality: Nova's operators (`<or>`, `<in>`,
 * `s==`, `>=`, ...) are not interpreted, so such a value only matches the same literal text.
 * Unlike Nova, unscoped extra specs (no `:`) are not treated as aggregate requirements.
 */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export const AGGREGATE_SCOPE = 'aggregate_instance_extra_specs:';

export function aggregateRequirements(extraSpecs: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(extraSpecs)
    .filter(([key]) => key.startsWith(AGGREGATE_SCOPE) && key.length > AGGREGATE_SCOPE.length)
    .map(([key, value]) => [key.slice(AGGREGATE_SCOPE.length), value.trim()]);
}

/** KEY -> every value of KEY over the host's aggregates (comma-separated values split). */
export function hostAggregateMetadata(host: HostCandidate): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const aggregate of host.aggregates) {
    for (const [key, value] of Object.entries(aggregate.metadata)) {
      const values = out.get(key) ?? new Set<string>();
      for (const v of value.split(',')) values.add(v.trim());
      out.set(key, values);
    }
  }
  return out;
}

export class AggregateInstanceExtraSpecsFilter implements HostFilter {
  readonly name = 'AggregateInstanceExtraSpecsFilter';
  private cached?: { request: PlacementRequest; wants: Array<[string, string]> };

  appliesTo(request: PlacementRequest): boolean {
    return this.wantsOf(request).length > 0;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const wants = this.wantsOf(request);
    if (wants.length === 0) return null;
    const metadata = hostAggregateMetadata(host);
    for (const [key, value] of wants) {
      const values = metadata.get(key);
      if (!values) return `AggregateInstanceExtraSpecs: no aggregate of the host has ${key}`;
      if (!values.has(value)) return `AggregateInstanceExtraSpecs: ${key}=${value} wanted, the host's aggregates have ${[...values].join(', ')}`;
    }
    return null;
  }

  private wantsOf(request: PlacementRequest): Array<[string, string]> {
    if (this.cached?.request !== request) this.cached = { request, wants: aggregateRequirements(request.extraSpecs) };
    return this.cached.wants;
  }
}
