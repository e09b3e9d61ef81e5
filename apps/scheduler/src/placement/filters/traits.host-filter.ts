/**
 * Required and forbidden traits, in Nova/Placement's flavor syntax `trait:NAME=required` and
 * `trait:NAME=forbidden` (image properties may require traits the same way; Nova ignores
 * `forbidden` there, and so does Nubo). Other values, and granular `traitN:` groups, are ignored.
 * A flavor with `nubo:storage=shared` requires the shared-storage trait.
 */
import { SHARED_STORAGE_TRAIT, STORAGE_EXTRA_SPEC } from '@nubo/contracts';
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export interface TraitRequirements {
  required: string[];
  forbidden: string[];
}

export function traitRequirements(request: Pick<PlacementRequest, 'extraSpecs' | 'imageProperties'>): TraitRequirements {
  const required = new Set<string>();
  const forbidden = new Set<string>();
  const scan = (specs: Readonly<Record<string, string>>, allowForbidden: boolean) => {
    for (const [key, value] of Object.entries(specs)) {
      if (!key.startsWith('trait:')) continue;
      const trait = key.slice('trait:'.length);
      if (value === 'required') required.add(trait);
      else if (value === 'forbidden' && allowForbidden) forbidden.add(trait);
    }
  };
  scan(request.extraSpecs, true);
  scan(request.imageProperties, false);
  if (request.extraSpecs[STORAGE_EXTRA_SPEC] === 'shared') required.add(SHARED_STORAGE_TRAIT);
  return { required: [...required], forbidden: [...forbidden] };
}

export class TraitsFilter implements HostFilter {
  readonly name = 'TraitsFilter';
  /** The last request's requirements: parsed once per request (requests are not mutated), not once per host. */
  private cached?: { request: PlacementRequest; wants: TraitRequirements };

  appliesTo(request: PlacementRequest): boolean {
    const { required, forbidden } = this.wantsOf(request);
    return required.length > 0 || forbidden.length > 0;
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const { required, forbidden } = this.wantsOf(request);
    if (required.some((t) => !host.traits.has(t))) return `Traits: required ${required.filter((t) => !host.traits.has(t)).join(', ')} missing`;
    if (forbidden.some((t) => host.traits.has(t))) return `Traits: forbidden ${forbidden.filter((t) => host.traits.has(t)).join(', ')} present`;
    return null;
  }

  private wantsOf(request: PlacementRequest): TraitRequirements {
    if (this.cached?.request !== request) this.cached = { request, wants: traitRequirements(request) };
    return this.cached.wants;
  }
}
