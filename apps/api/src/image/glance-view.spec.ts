import type { ImageRecord } from '@nubo/contracts';
import { imageView, listView, plainQuery } from './glance-view';

const record = (over: Partial<ImageRecord> = {}): ImageRecord => ({
  id: 'i1', name: 'cirros', status: 'active', visibility: 'private', projectId: 'p1',
  sha256: 'ab'.repeat(32), sizeBytes: 1024, diskFormat: 'qcow2', virtualSize: 4096, containerFormat: 'bare',
  checksum: 'cd'.repeat(16), minDisk: 0, minRam: 0, protected: false, hidden: false, tags: ['t'],
  properties: { os_distro: 'cirros' }, createdAt: '2024-11-25T10:00:00.123Z', updatedAt: '2024-11-25T10:00:01.000Z', ...over,
});

describe('glance views', () => {
  describe('imageView', () => {
    it("is Glance's image, properties at the top level", () => {
      expect(imageView(record())).toEqual({
        id: 'i1', name: 'cirros', status: 'active', visibility: 'private', protected: false, os_hidden: false, owner: 'p1',
        container_format: 'bare', disk_format: 'qcow2', size: 1024, virtual_size: 4096, checksum: 'cd'.repeat(16),
        os_hash_algo: 'sha256', os_hash_value: 'ab'.repeat(32), min_disk: 0, min_ram: 0, tags: ['t'],
        created_at: '2024-11-25T10:00:00Z', updated_at: '2024-11-25T10:00:01Z',
        self: '/v2/images/i1', file: '/v2/images/i1/file', schema: '/v2/schemas/image', os_distro: 'cirros',
      });
    });

    it('shows a queued image with null data fields', () => {
      const view = imageView(record({ status: 'queued', sha256: null, sizeBytes: null, virtualSize: null, checksum: null }));
      expect(view).toMatchObject({ status: 'queued', size: null, virtual_size: null, checksum: null, os_hash_algo: null, os_hash_value: null });
    });
  });

  describe('listView', () => {
    it('links the next page with the same query and the marker', () => {
      const body = listView([record()], { name: 'cirros', limit: '1', marker: 'old' }, 'i1');
      expect(body).toMatchObject({ first: '/v2/images?name=cirros&limit=1', next: '/v2/images?name=cirros&limit=1&marker=i1', schema: '/v2/schemas/images' });
    });

    it('has no next link on the last page', () => {
      expect(listView([], {})).toEqual({ images: [], first: '/v2/images', schema: '/v2/schemas/images' });
    });
  });

  it('passes on only strings and lists of strings', () => {
    expect(plainQuery({ a: 'x', b: ['y', 'z'], c: { d: 1 }, e: [1] })).toEqual({ a: 'x', b: ['y', 'z'] });
  });
});
