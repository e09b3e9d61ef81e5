/** Glance v2's image and list bodies. Links are paths relative to the endpoint, as Glance writes them. */
import type { ImageRecord } from '@nubo/contracts';

/** Glance's timestamps have no fraction: 2015-11-29T22:21:42Z. */
const glanceTime = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

export function imageView(r: ImageRecord): Record<string, unknown> {
  return {
    // Additional properties sit at the top level; core attributes can never be shadowed by them.
    ...r.properties,
    id: r.id,
    name: r.name,
    status: r.status,
    visibility: r.visibility,
    protected: r.protected,
    os_hidden: r.hidden,
    owner: r.projectId,
    container_format: r.containerFormat,
    disk_format: r.diskFormat,
    size: r.sizeBytes,
    virtual_size: r.virtualSize,
    checksum: r.checksum,
    os_hash_algo: r.sha256 ? 'sha256' : null,
    os_hash_value: r.sha256,
    min_disk: r.minDisk,
    min_ram: r.minRam,
    tags: r.tags,
    created_at: glanceTime(r.createdAt),
    updated_at: glanceTime(r.updatedAt),
    self: `/v2/images/${r.id}`,
    file: `/v2/images/${r.id}/file`,
    schema: '/v2/schemas/image',
  };
}

/** `first` repeats the query without a marker; `next` adds the marker of the next page. */
export function listView(images: ImageRecord[], query: Record<string, string | string[]>, nextMarker?: string): Record<string, unknown> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (key === 'marker') continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  }
  const first = params.toString() ? `/v2/images?${params}` : '/v2/images';
  const body: Record<string, unknown> = { images: images.map(imageView), first, schema: '/v2/schemas/images' };
  if (nextMarker) {
    params.set('marker', nextMarker);
    body.next = `/v2/images?${params}`;
  }
  return body;
}

/** Only plain strings and lists of strings reach the image store. */
export function plainQuery(query: Record<string, unknown>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(query)) {
    if (typeof value === 'string') out[key] = value;
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[key] = value as string[];
  }
  return out;
}
