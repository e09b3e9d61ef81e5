import { InstanceSpec } from '@nubo/contracts';
import { instancePaths } from './qemu-argv';
import { growCommand, keptPaths, resizedSpec } from './qemu-resize';

const serverId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const image = { id: 'img', sha256: 'a'.repeat(64), sizeBytes: 10, diskFormat: 'qcow2' as const, url: 'http://old/url' };

describe('growCommand', () => {
  it('grows with an explicit format and an argument array, without opening the base', () => {
    const { file, args } = growCommand('/state/instances/x/disk.qcow2', 2 * 2 ** 30);
    expect(file).toBe('qemu-img');
    expect(args.slice(0, 4)).toEqual(['resize', '-q', '-f', 'qcow2']);
    expect(JSON.parse(args[4].replace(/^json:/, ''))).toEqual({ file: { driver: 'file', filename: '/state/instances/x/disk.qcow2' }, backing: null });
    // An absolute size: a second call cannot grow it twice.
    expect(args[5]).toBe('2147483648');
  });

  it('keeps a path with a comma a plain JSON string', () => {
    const { args } = growCommand('/a,b/disk.qcow2', 1);
    expect(JSON.parse(args[4].slice(5)).file.filename).toBe('/a,b/disk.qcow2');
  });
});

describe('resizedSpec', () => {
  const stored: InstanceSpec = { serverId, vcpus: 1, ramMb: 512, diskGb: 1, image, accelerator: 'tcg' };

  it("takes the request's flavor fields and the stored image, with the fresh URL", () => {
    const request: InstanceSpec = {
      serverId, vcpus: 2, ramMb: 768, diskGb: 2, ephemeralGb: 1, topology: { sockets: 1, cores: 2, threads: 1 }, accelerator: 'tcg',
      image: { ...image, url: 'http://fresh/url' },
    };
    expect(resizedSpec(stored, request)).toEqual({ ...request, image: { ...image, url: 'http://fresh/url' } });
  });

  it('keeps the stored image when the request names other bytes', () => {
    const request: InstanceSpec = { serverId, vcpus: 2, ramMb: 768, diskGb: 2, image: { ...image, sha256: 'b'.repeat(64) } };
    expect(resizedSpec(stored, request).image).toEqual(image);
  });
});

describe('keptPaths', () => {
  it('keeps disk and spec beside them in the instance directory', () => {
    const paths = instancePaths('/state', serverId);
    expect(keptPaths(paths)).toEqual({
      disk: `${paths.dir}/disk.qcow2.resize-orig`,
      ephemeral: `${paths.dir}/ephemeral.qcow2.resize-orig`,
      spec: `${paths.dir}/spec.json.resize-orig`,
    });
  });
});
