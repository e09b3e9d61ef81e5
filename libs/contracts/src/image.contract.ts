/**
 * Image-store contracts (queue group `nubo-image`). Metadata travels over NATS; image bytes never do:
 * they go over HTTP to the image store (see image-url.ts for the signed requests).
 * v1: get, list. v1.1 (additive): create, update, delete; richer summaries and list filters.
 */
import { rpc } from './rpc';

/** Disk formats the cloud offers; anything else is refused at create and at upload. */
export const IMAGE_DISK_FORMATS = ['raw', 'qcow2', 'iso'] as const;
export type ImageDiskFormat = (typeof IMAGE_DISK_FORMATS)[number];
export const IMAGE_CONTAINER_FORMATS = ['bare'] as const;
export const IMAGE_VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type ImageVisibility = (typeof IMAGE_VISIBILITIES)[number];

/** Glance's image statuses that Nubo uses. */
export enum ImageStatus {
  Queued = 'queued',
  Saving = 'saving',
  Active = 'active',
  Killed = 'killed',
  Deleted = 'deleted',
}

export interface ImageSummary {
  id: string;
  name: string;
  status: string;
  visibility: string;
  projectId: string;
  /** sha256 of the bytes (Glance's os_hash_value); null until the image is active. */
  sha256: string | null;
  sizeBytes: number | null;
  diskFormat: string | null;
  /** Size of the disk the image describes (qemu-img's virtual-size); null until active. */
  virtualSize: number | null;
}

/** Everything Glance shows of an image. */
export interface ImageRecord extends ImageSummary {
  containerFormat: string | null;
  /** md5 of the bytes (Glance's checksum). */
  checksum: string | null;
  minDisk: number;
  minRam: number;
  protected: boolean;
  hidden: boolean;
  tags: string[];
  /** Glance's additional properties (string values), shown at the top level of the image. */
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** Who asks. Admins see and change every image, as in Glance. */
export interface ImageCaller {
  projectId: string;
  isAdmin?: boolean;
}

export interface ImageGetRequest {
  imageId: string;
  /** The caller's project: images of other projects that are not public answer NotFound. */
  projectId: string;
  isAdmin?: boolean;
}

export interface ImageListRequest {
  projectId: string;
  isAdmin?: boolean;
  /** Glance's list query string (filters, limit, marker, sort), validated by the image store. */
  query?: Record<string, string | string[]>;
}

export interface ImageListReply {
  images: ImageRecord[];
  /** Set when more images follow: the marker of the next page. */
  nextMarker?: string;
}

export interface ImageCreateRequest {
  caller: ImageCaller;
  /** Glance's POST /v2/images body, validated by the image store. */
  body: unknown;
}

export interface ImageUpdateRequest {
  caller: ImageCaller;
  imageId: string;
  /** Glance's JSON patch (application/openstack-images-v2.1-json-patch), validated by the image store. */
  patch: unknown;
}

export interface ImageDeleteRequest {
  caller: ImageCaller;
  imageId: string;
}

export const ImageOps = {
  get: rpc<ImageGetRequest, ImageRecord>('image.get', { timeoutMs: 5_000 }),
  list: rpc<ImageListRequest, ImageListReply>('image.list', { timeoutMs: 5_000 }),
  create: rpc<ImageCreateRequest, ImageRecord>('image.create', { timeoutMs: 10_000 }),
  update: rpc<ImageUpdateRequest, ImageRecord>('image.update', { timeoutMs: 10_000 }),
  /** Soft-deletes the row; the bytes go when no other image shares them. */
  delete: rpc<ImageDeleteRequest, { deleted: true }>('image.delete', { timeoutMs: 10_000 }),
};
