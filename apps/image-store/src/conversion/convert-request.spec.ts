import { ConflictError, ValidationError } from '@nubo/contracts';
import { ConvertSource, parseConvertRequest } from './convert-request';

const source = (over: Partial<ConvertSource> = {}): ConvertSource => ({
  id: 'img-1',
  name: 'cirros',
  status: 'active',
  diskFormat: 'qcow2',
  virtualSize: 1024,
  ...over,
});
const limits = { maxBytes: 4096 };

describe('parseConvertRequest', () => {
  it.each([
    ['qcow2 to raw, named after the source', { disk_format: 'raw' }, source(), { diskFormat: 'raw', sourceFormat: 'qcow2', compress: false, name: 'cirros (raw)' }],
    ['raw to compressed qcow2', { disk_format: 'qcow2', compress: true }, source({ diskFormat: 'raw' }), { diskFormat: 'qcow2', sourceFormat: 'raw', compress: true, name: 'cirros (qcow2)' }],
    ['a chosen name', { disk_format: 'qcow2', name: 'small' }, source(), { diskFormat: 'qcow2', compress: false, name: 'small' }],
    ['compress false with raw', { disk_format: 'raw', compress: false }, source(), { diskFormat: 'raw', compress: false }],
    ['a default name cut at 255', { disk_format: 'raw' }, source({ name: 'n'.repeat(255) }), { name: `${'n'.repeat(249)} (raw)` }],
  ])('takes %s', (_name, body, src, expected) => {
    expect(parseConvertRequest(body, src, limits)).toMatchObject(expected);
  });

  it.each([
    ['a body that is not an object', [], source(), ValidationError, 'body'],
    ['no disk_format', {}, source(), ValidationError, 'disk_format'],
    ['a disk_format nobody converts to', { disk_format: 'vmdk' }, source(), ValidationError, 'disk_format'],
    ['compress as a string', { disk_format: 'qcow2', compress: 'yes' }, source(), ValidationError, 'compress'],
    ['compression to raw', { disk_format: 'raw', compress: true }, source(), ValidationError, 'compress'],
    ['a name that is not a string', { disk_format: 'raw', name: 5 }, source(), ValidationError, 'name'],
    ['a name too long', { disk_format: 'raw', name: 'x'.repeat(256) }, source(), ValidationError, 'name'],
    ['an unknown key', { disk_format: 'raw', visibility: 'public' }, source(), ValidationError, 'visibility'],
    ['an ISO source', { disk_format: 'raw' }, source({ diskFormat: 'iso' }), ValidationError, 'disk_format'],
    ['a raw result past the storage limit', { disk_format: 'raw' }, source({ virtualSize: 4097 }), ValidationError, 'disk_format'],
    ['a queued source', { disk_format: 'raw' }, source({ status: 'queued' }), ConflictError, undefined],
  ])('refuses %s', (_name, body, src, type, field) => {
    let error: unknown;
    try {
      parseConvertRequest(body, src, limits);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    expect((error as ValidationError).details.field).toBe(field);
  });
});
