/** The whole check of an uploaded file before its image may become active. */
import { ImageDiskFormat, InternalError, ValidationError } from '@nubo/contracts';
import { open } from 'node:fs/promises';
import { SNIFF_BYTES, inspectHeader } from './format-inspector';
import { DEFAULT_QEMU_IMG_LIMITS, QemuImgInfo, QemuImgLimits, qemuImgInfo } from './qemu-img-info';

export interface InspectionOptions {
  maxVirtualBytes: number;
  limits?: QemuImgLimits;
}

async function readHead(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await file.read(buffer, 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Refuses (ValidationError) what is unsafe or not what `declared` says; returns the virtual size. */
export async function inspectImageFile(
  path: string,
  declared: ImageDiskFormat,
  fileSize: number,
  options: InspectionOptions,
): Promise<{ virtualSize: number }> {
  const verdict = inspectHeader(await readHead(path), declared, fileSize);
  const qemuFormat = declared === 'qcow2' ? 'qcow2' : 'raw';
  let info: QemuImgInfo;
  try {
    info = await qemuImgInfo(path, qemuFormat, options.limits ?? DEFAULT_QEMU_IMG_LIMITS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InternalError('prlimit or qemu-img is not installed');
    throw new ValidationError(`image data could not be read as ${declared}: ${(error as Error).message}`, 'image data');
  }
  if (info.format !== qemuFormat) throw new ValidationError(`qemu-img reads the data as ${info.format}, not ${qemuFormat}`, 'image data');
  if (info.backingFilename !== undefined || info.dataFile !== undefined) {
    throw new ValidationError('image refers to another file; images must be self-contained', 'image data');
  }
  if (verdict.virtualSize !== undefined && verdict.virtualSize !== info.virtualSize) {
    throw new ValidationError('qcow2 header and qemu-img disagree on the virtual size', 'image data');
  }
  if (info.virtualSize > options.maxVirtualBytes) {
    throw new ValidationError(`virtual size ${info.virtualSize} exceeds the limit of ${options.maxVirtualBytes} bytes`, 'image data');
  }
  return { virtualSize: info.virtualSize };
}
