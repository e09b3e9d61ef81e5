/**
 * Image-store contracts (queue group `nubo-image`). Metadata travels over NATS; image bytes never do:
 * they go over HTTP to the image store (see image-url.ts for the signed requests).
 * v1: get, list. v1.1 (additive): create, update, delete; richer summaries and list filters.
 * v1.2 (additive): image members (Glance sharing), `anyMemberStatus` on get, conversion (Nubo's).
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
  /**
   * A shared image's member sees it only once it has accepted (boots, downloads). Glance's show
   * sets this: a member sees the image whatever its member status, so that it can accept it.
   */
  anyMemberStatus?: boolean;
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

/** Glance's image member statuses. */
export const IMAGE_MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type ImageMemberStatus = (typeof IMAGE_MEMBER_STATUSES)[number];

export interface ImageMemberRecord {
  imageId: string;
  /** The project the image is shared with. */
  memberId: string;
  status: ImageMemberStatus;
  createdAt: string;
  updatedAt: string;
}

export interface ImageMembersRequest {
  caller: ImageCaller;
  imageId: string;
}

export interface ImageMemberRequest extends ImageMembersRequest {
  memberId: string;
}

export interface ImageMemberCreateRequest extends ImageMembersRequest {
  /** Glance's `{"member": "<project id>"}`, validated by the image store. */
  body: unknown;
}

export interface ImageMemberUpdateRequest extends ImageMemberRequest {
  /** Glance's `{"status": "accepted" | "rejected" | "pending"}`, validated by the image store. */
  body: unknown;
}

export interface ImageConvertRequest {
  caller: ImageCaller;
  imageId: string;
  /** Nubo's `{"disk_format", "compress", "name"}`, validated by the image store. */
  body: unknown;
}

export interface ImageConvertReply {
  /** The new image, queued until the conversion job makes it active (or killed). */
  image: { id: string; status: string };
  job: { id: string };
}

export type ImageConversionStatus = 'queued' | 'running' | 'done' | 'failed';

export interface ImageConversionRecord {
  imageId: string;
  sourceImageId: string;
  status: ImageConversionStatus;
  /** 0-100, from qemu-img's progress. */
  progress: number;
  error: string | null;
}

export const ImageOps = {
  get: rpc<ImageGetRequest, ImageRecord>('image.get', { timeoutMs: 5_000 }),
  list: rpc<ImageListRequest, ImageListReply>('image.list', { timeoutMs: 5_000 }),
  create: rpc<ImageCreateRequest, ImageRecord>('image.create', { timeoutMs: 10_000 }),
  update: rpc<ImageUpdateRequest, ImageRecord>('image.update', { timeoutMs: 10_000 }),
  /** Soft-deletes the row; the bytes go when no other image shares them. */
  delete: rpc<ImageDeleteRequest, { deleted: true }>('image.delete', { timeoutMs: 10_000 }),
  /** Owners (and admins) see every member; a member sees only its own entry. */
  memberList: rpc<ImageMembersRequest, { members: ImageMemberRecord[] }>('image.member.list', { timeoutMs: 5_000 }),
  memberGet: rpc<ImageMemberRequest, ImageMemberRecord>('image.member.get', { timeoutMs: 5_000 }),
  memberCreate: rpc<ImageMemberCreateRequest, ImageMemberRecord>('image.member.create', { timeoutMs: 10_000 }),
  /** Only the member itself (or an admin) changes its status. */
  memberUpdate: rpc<ImageMemberUpdateRequest, ImageMemberRecord>('image.member.update', { timeoutMs: 10_000 }),
  memberDelete: rpc<ImageMemberRequest, { deleted: true }>('image.member.delete', { timeoutMs: 10_000 }),
  /** Creates the converted image (queued) and enqueues the `image.convert` job. */
  convert: rpc<ImageConvertRequest, ImageConvertReply>('image.convert', { timeoutMs: 10_000 }),
  /** The conversion that fills image `imageId`, read back from its job. */
  conversion: rpc<ImageMembersRequest, ImageConversionRecord>('image.conversion', { timeoutMs: 5_000 }),
};
