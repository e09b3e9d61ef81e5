/** Rows to contract records, and the mutable part of a row in and out. */
import { ImageRecord, ImageVisibility } from '@nubo/contracts';
import { ImageEntity } from '@nubo/database';
import { MutableImage } from './image-fields';

export function toRecord(i: ImageEntity): ImageRecord {
  return {
    id: i.id,
    name: i.name,
    status: i.status,
    visibility: i.visibility,
    projectId: i.projectId,
    sha256: i.osHashValue,
    sizeBytes: i.sizeBytes,
    diskFormat: i.diskFormat,
    virtualSize: i.virtualSize,
    containerFormat: i.containerFormat,
    checksum: i.checksum,
    minDisk: i.minDisk,
    minRam: i.minRam,
    protected: i.protected,
    hidden: i.osHidden,
    tags: i.tags ?? [],
    properties: i.properties ?? {},
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
  };
}

export function mutableOf(i: ImageEntity): MutableImage {
  return {
    name: i.name,
    visibility: i.visibility as ImageVisibility,
    protected: i.protected,
    hidden: i.osHidden,
    minDisk: i.minDisk,
    minRam: i.minRam,
    diskFormat: i.diskFormat,
    containerFormat: i.containerFormat,
    tags: [...(i.tags ?? [])],
    properties: { ...(i.properties ?? {}) },
    projectId: i.projectId,
  };
}

/** Column values for a mutable image (for insert and update). */
export function columnsOf(m: MutableImage): Partial<ImageEntity> {
  return {
    name: m.name,
    visibility: m.visibility,
    protected: m.protected,
    osHidden: m.hidden,
    minDisk: m.minDisk,
    minRam: m.minRam,
    diskFormat: m.diskFormat,
    containerFormat: m.containerFormat,
    tags: m.tags,
    properties: m.properties,
    projectId: m.projectId,
  };
}
