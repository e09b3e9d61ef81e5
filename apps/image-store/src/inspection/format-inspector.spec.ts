import { ImageDiskFormat, ValidationError } from '@nubo/contracts';
import { SNIFF_BYTES, detectFormat, inspectHeader } from './format-inspector';

interface Qcow2Fields {
  version: number;
  backingOffset: bigint;
  backingSize: number;
  clusterBits: number;
  size: bigint;
  crypt: number;
  l1Size: number;
  l1Offset: bigint;
  refcountOffset: bigint;
  incompatible: bigint;
  refcountOrder: number;
  headerLength: number;
}

/** A qcow2 header laid out as QEMU writes it (docs/interop/qcow2.txt), big-endian. */
function qcow2(overrides: Partial<Qcow2Fields> = {}): Buffer {
  const f: Qcow2Fields = {
    version: 3, backingOffset: 0n, backingSize: 0, clusterBits: 16, size: 64n << 20n, crypt: 0, l1Size: 1,
    l1Offset: 0x30000n, refcountOffset: 0x10000n, incompatible: 0n, refcountOrder: 4, headerLength: 112,
    ...overrides,
  };
  const b = Buffer.alloc(SNIFF_BYTES);
  b.write('QFI\xfb', 0, 'latin1');
  b.writeUInt32BE(f.version, 4);
  b.writeBigUInt64BE(f.backingOffset, 8);
  b.writeUInt32BE(f.backingSize, 16);
  b.writeUInt32BE(f.clusterBits, 20);
  b.writeBigUInt64BE(f.size, 24);
  b.writeUInt32BE(f.crypt, 32);
  b.writeUInt32BE(f.l1Size, 36);
  b.writeBigUInt64BE(f.l1Offset, 40);
  b.writeBigUInt64BE(f.refcountOffset, 48);
  b.writeUInt32BE(1, 56);
  if (f.version === 3) {
    b.writeBigUInt64BE(f.incompatible, 72);
    b.writeUInt32BE(f.refcountOrder, 96);
    b.writeUInt32BE(f.headerLength, 100);
  }
  return b;
}

const at = (offset: number, magic: string | number[]) => {
  const b = Buffer.alloc(SNIFF_BYTES);
  (typeof magic === 'string' ? Buffer.from(magic, 'latin1') : Buffer.from(magic)).copy(b, offset);
  return b;
};
const FILE_SIZE = 0x40000;

describe('format inspector', () => {
  describe('detectFormat', () => {
    it.each([
      ['qcow2', qcow2(), 'qcow2'],
      ['sparse VMDK', at(0, 'KDMV'), 'vmdk'],
      ['VMDK descriptor', at(0, '# Disk DescriptorFile\n'), 'vmdk'],
      ['VHD', at(0, 'conectix'), 'vhd'],
      ['VHDX', at(0, 'vhdxfile'), 'vhdx'],
      ['VDI', at(0x40, [0x7f, 0x10, 0xda, 0xbe]), 'vdi'],
      ['QED', at(0, 'QED\0'), 'qed'],
      ['LUKS', at(0, 'LUKS\xba\xbe'), 'luks'],
      ['ISO 9660', at(32769, 'CD001'), 'iso'],
      ['UDF', at(32769, 'BEA01'), 'iso'],
      ['zeros', Buffer.alloc(SNIFF_BYTES), 'raw'],
      ['a short file', Buffer.from('hello'), 'raw'],
    ])('sees %s', (_name, head, expected) => {
      expect(detectFormat(head)).toBe(expected);
    });
  });

  describe('inspectHeader', () => {
    const accepted: Array<[string, Buffer, ImageDiskFormat, string, number | undefined]> = [
      ['a v3 qcow2', qcow2(), 'qcow2', 'qcow2', 64 << 20],
      ['a v2 qcow2', qcow2({ version: 2 }), 'qcow2', 'qcow2', 64 << 20],
      ['a dirty qcow2 (lazy refcounts)', qcow2({ incompatible: 1n }), 'qcow2', 'qcow2', 64 << 20],
      ['a qcow2 with zstd compression and extended L2', qcow2({ incompatible: 0b11000n }), 'qcow2', 'qcow2', 64 << 20],
      ['an empty qcow2 with no L1 table', qcow2({ size: 0n, l1Size: 0, l1Offset: 0n }), 'qcow2', 'qcow2', 0],
      ['raw zeros', Buffer.alloc(SNIFF_BYTES), 'raw', 'raw', undefined],
      ['an ISO uploaded as raw', at(32769, 'CD001'), 'raw', 'iso', undefined],
      ['an ISO as iso', at(32769, 'CD001'), 'iso', 'iso', undefined],
    ];
    it.each(accepted)('accepts %s', (_name, head, declared, format, virtualSize) => {
      expect(inspectHeader(head, declared, FILE_SIZE)).toEqual(virtualSize === undefined ? { format } : { format, virtualSize });
    });

    const refused: Array<[string, Buffer, ImageDiskFormat, RegExp]> = [
      ['a qcow2 with a backing file', qcow2({ backingOffset: 0x210n, backingSize: 8 }), 'qcow2', /backing file/],
      ['a qcow2 with a backing file name length only', qcow2({ backingSize: 8 }), 'qcow2', /backing file/],
      ['a qcow2 with an external data file', qcow2({ incompatible: 4n }), 'qcow2', /external data file/],
      ['a qcow2 marked corrupt', qcow2({ incompatible: 2n }), 'qcow2', /marked corrupt/],
      ['a qcow2 with unknown incompatible features', qcow2({ incompatible: 1n << 5n }), 'qcow2', /unknown incompatible features/],
      ['a qcow2 of version 4', qcow2({ version: 4 }), 'qcow2', /version 4/],
      ['a qcow2 with absurd clusters', qcow2({ clusterBits: 30 }), 'qcow2', /cluster_bits/],
      ['an encrypted qcow2', qcow2({ crypt: 2 }), 'qcow2', /encrypted/],
      ['a qcow2 whose L1 table lies past the end', qcow2({ l1Offset: 0x100000n }), 'qcow2', /l1_table_offset/],
      ['a qcow2 with a misaligned refcount table', qcow2({ refcountOffset: 0x10001n }), 'qcow2', /refcount_table_offset/],
      ['a qcow2 with no refcount table', qcow2({ refcountOffset: 0n }), 'qcow2', /refcount_table_offset/],
      ['a qcow2 with a bad header length', qcow2({ headerLength: 100 }), 'qcow2', /header_length/],
      ['a qcow2 with a huge virtual size', qcow2({ size: 1n << 60n }), 'qcow2', /virtual size/],
      ['a truncated qcow2', qcow2().subarray(0, 64), 'qcow2', /truncated/],
      ['a qcow2 declared raw', qcow2(), 'raw', /is qcow2, not raw/],
      ['a VMDK declared raw', at(0, 'KDMV'), 'raw', /is vmdk, not raw/],
      ['a VHDX declared raw', at(0, 'vhdxfile'), 'raw', /is vhdx, not raw/],
      ['a LUKS volume declared raw', at(0, 'LUKS\xba\xbe'), 'raw', /is luks, not raw/],
      ['an ISO declared qcow2', at(32769, 'CD001'), 'qcow2', /not qcow2 \(it looks like iso\)/],
      ['raw bytes declared qcow2', Buffer.alloc(SNIFF_BYTES), 'qcow2', /not qcow2/],
      ['a VMDK declared qcow2', at(0, 'KDMV'), 'qcow2', /not qcow2 \(it looks like vmdk\)/],
      ['raw bytes declared iso', Buffer.alloc(SNIFF_BYTES), 'iso', /not an ISO/],
      ['a qcow2 declared iso', qcow2(), 'iso', /not an ISO/],
      ['a format nobody offers', Buffer.alloc(16), 'vmdk' as ImageDiskFormat, /not offered/],
    ];
    it.each(refused)('refuses %s', (_name, head, declared, message) => {
      let error: unknown;
      try {
        inspectHeader(head, declared, FILE_SIZE);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toMatch(message);
    });
  });
});
