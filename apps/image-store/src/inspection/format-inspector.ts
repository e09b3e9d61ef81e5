/**
 * Reads the first bytes of an uploaded image and refuses what could make QEMU touch a host file
 * or what the declared disk format does not match (RELIABILITY.md item 11), before qemu-img ever
 * opens the file. Like Glance's format_inspector: a qcow2 must be self-contained (no backing file,
 * no external data file, no unknown incompatible features); a "raw" image must not be another
 * container format in disguise, since a guest could otherwise read a host file through it.
 */
import { ImageDiskFormat, ValidationError } from '@nubo/contracts';

/** Bytes the inspector needs: the qcow2 header and the ISO 9660 volume descriptor at 32769. */
export const SNIFF_BYTES = 65536;

export type DetectedFormat = 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'qed' | 'luks' | 'iso' | 'raw';

export interface HeaderVerdict {
  format: DetectedFormat;
  /** The virtual size a qcow2 header declares. */
  virtualSize?: number;
}

const at = (head: Buffer, offset: number, text: string | Buffer) => {
  const magic = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return head.length >= offset + magic.length && head.subarray(offset, offset + magic.length).equals(magic);
};

/** What the bytes look like, whatever the uploader declared. */
export function detectFormat(head: Buffer): DetectedFormat {
  if (at(head, 0, 'QFI\xfb')) return 'qcow2';
  if (at(head, 0, 'KDMV') || at(head, 0, 'COWD') || at(head, 0, '# Disk DescriptorFile')) return 'vmdk';
  if (at(head, 0, 'conectix')) return 'vhd';
  if (at(head, 0, 'vhdxfile')) return 'vhdx';
  if (at(head, 0x40, Buffer.from([0x7f, 0x10, 0xda, 0xbe]))) return 'vdi';
  if (at(head, 0, 'QED\0')) return 'qed';
  if (at(head, 0, Buffer.from('LUKS\xba\xbe', 'latin1'))) return 'luks';
  if (at(head, 32769, 'CD001') || at(head, 32769, 'BEA01')) return 'iso';
  return 'raw';
}

const refuse = (message: string): never => {
  throw new ValidationError(message, 'image data');
};

/**
 * qcow2 incompatible feature bits QEMU knows: dirty, corrupt, external data file, compression type,
 * extended L2. A dirty image (lazy refcounts) is still fine to read.
 */
const QCOW2_KNOWN_INCOMPATIBLE = 0b11111n;
const QCOW2_CORRUPT = 1n << 1n;
const QCOW2_DATA_FILE = 1n << 2n;

/** Checks a qcow2 header (QEMU's docs/interop/qcow2.txt); returns the virtual size it declares. */
export function checkQcow2Header(head: Buffer, fileSize: number): number {
  if (head.length < 72) refuse('qcow2 image is truncated: its header is incomplete');
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) refuse(`qcow2 version ${version} is not supported`);
  if (head.readBigUInt64BE(8) !== 0n || head.readUInt32BE(16) !== 0) {
    refuse('qcow2 image has a backing file; images must be self-contained');
  }
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) refuse(`qcow2 header is corrupt: cluster_bits ${clusterBits}`);
  const clusterSize = 2 ** clusterBits;
  const size = head.readBigUInt64BE(24);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) refuse('qcow2 header is corrupt: virtual size out of range');
  if (head.readUInt32BE(32) !== 0) refuse('encrypted qcow2 images are not supported');
  const l1Size = head.readUInt32BE(36);
  const tables: Array<[string, bigint, boolean]> = [
    ['l1_table_offset', head.readBigUInt64BE(40), l1Size > 0],
    ['refcount_table_offset', head.readBigUInt64BE(48), true],
  ];
  for (const [name, offset, required] of tables) {
    if (!required && offset === 0n) continue;
    if (offset === 0n || offset % BigInt(clusterSize) !== 0n || offset >= BigInt(fileSize)) refuse(`qcow2 header is corrupt: ${name} ${offset}`);
  }
  if (version === 3) {
    if (head.length < 104) refuse('qcow2 image is truncated: its header is incomplete');
    const incompatible = head.readBigUInt64BE(72);
    if (incompatible & QCOW2_DATA_FILE) refuse('qcow2 image uses an external data file; images must be self-contained');
    if (incompatible & QCOW2_CORRUPT) refuse('qcow2 image is marked corrupt');
    if (incompatible & ~QCOW2_KNOWN_INCOMPATIBLE) refuse(`qcow2 image has unknown incompatible features (0x${incompatible.toString(16)})`);
    const refcountOrder = head.readUInt32BE(96);
    const headerLength = head.readUInt32BE(100);
    if (refcountOrder > 6) refuse(`qcow2 header is corrupt: refcount_order ${refcountOrder}`);
    if (headerLength < 104 || headerLength % 8 !== 0 || headerLength > clusterSize) {
      refuse(`qcow2 header is corrupt: header_length ${headerLength}`);
    }
  }
  return Number(size);
}

/**
 * Refuses bytes that do not match `declared` or that are unsafe. An ISO may be uploaded as raw
 * (it is raw bytes); raw and iso images are opened as raw, never probed.
 */
export function inspectHeader(head: Buffer, declared: ImageDiskFormat, fileSize: number): HeaderVerdict {
  const format = detectFormat(head);
  switch (declared) {
    case 'qcow2':
      if (format !== 'qcow2') refuse(`image data is not qcow2 (it looks like ${format}) but disk_format is qcow2`);
      return { format, virtualSize: checkQcow2Header(head, fileSize) };
    case 'raw':
      if (format !== 'raw' && format !== 'iso') refuse(`image data is ${format}, not raw: upload it with disk_format ${format} or convert it`);
      return { format };
    case 'iso':
      if (format !== 'iso') refuse(`image data is not an ISO 9660 or UDF image (it looks like ${format}) but disk_format is iso`);
      return { format };
    default:
      return refuse(`disk_format ${String(declared)} is not offered`);
  }
}
