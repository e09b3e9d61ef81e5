import { InstanceSpec } from '@nubo/contracts';
import { withFreshImageUrl } from './qemu-power';

const serverId = '8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d';
const image = { id: 'img', sha256: 'a'.repeat(64), sizeBytes: 1, diskFormat: 'raw' as const, url: 'http://s/old?sig=1' };
const stored: InstanceSpec = { serverId, vcpus: 1, ramMb: 64, diskGb: 1, image };

describe('withFreshImageUrl', () => {
  it.each<[string, InstanceSpec, InstanceSpec, string | undefined]>([
    ['takes the new URL for the same bytes', stored, { ...stored, vcpus: 4, image: { ...image, url: 'http://s/new' } }, 'http://s/new'],
    ['keeps the stored image when the request names other bytes', stored, { ...stored, image: { ...image, sha256: 'b'.repeat(64), url: 'http://s/b' } }, 'http://s/old?sig=1'],
    ['keeps the stored image when the request has none', stored, { ...stored, image: undefined }, 'http://s/old?sig=1'],
    ['leaves a spec without an image alone', { ...stored, image: undefined }, stored, undefined],
  ])('%s, and the stored shape', (_what, from, request, url) => {
    const result = withFreshImageUrl(from, request);
    expect(result.image?.url).toBe(url);
    expect(result.vcpus).toBe(1);
  });
});
