/**
 * Image data in and out: Glance's PUT and GET /v2/images/{id}/file on behalf of the API's caller,
 * and the agents' signed downloads. An upload is staged, inspected and only then committed; any
 * failure leaves no file and the image `queued` again, as Glance restores it.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ImageCaller, ImageDiskFormat, ImageStatus, NotFoundError } from '@nubo/contracts';
import { ImageEntity } from '@nubo/database';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { DataSource } from 'typeorm';
import { IMAGE_CONFIG, ImageConfig } from '../config';
import { ImageFiles } from '../images/image-files';
import { ImageQuotas } from '../images/image-quotas';
import { ImagesService } from '../images/images.service';
import { inspectImageFile } from '../inspection/image-inspection';
import { IMAGE_STORAGE } from '../storage/image-storage.token';
import { ImageStorage, StagedUpload, UploadTooLargeError } from '../storage/image-storage';
import { parseByteRange } from './byte-range';
import { HttpStatusError } from './http-status.error';

@Injectable()
export class ImageBytesService {
  private readonly logger = new Logger(ImageBytesService.name);

  constructor(
    @Inject(IMAGE_CONFIG) private readonly config: ImageConfig,
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(IMAGE_STORAGE) private readonly storage: ImageStorage,
    @Inject(ImagesService) private readonly images: ImagesService,
    @Inject(ImageFiles) private readonly files: ImageFiles,
    @Inject(ImageQuotas) private readonly quotas: ImageQuotas,
  ) {}

  /** `accept` is called once the upload may start: the caller then sends the body (100 Continue). */
  async upload(req: IncomingMessage, imageId: string, caller: ImageCaller, requestId: string, accept: () => void = () => undefined): Promise<void> {
    const length = req.headers['content-length'];
    const expectedBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    const image = await this.images.beginUpload(imageId, caller);
    // The smaller of the per-image cap and what is left of the owner's byte quota.
    const maxBytes = Math.min(this.config.NUBO_IMAGE_MAX_BYTES, await this.quotas.remainingBytes(image.projectId));
    if (expectedBytes !== undefined && expectedBytes > maxBytes) {
      await this.images.abortUpload(image.id);
      throw new UploadTooLargeError(maxBytes);
    }
    let staged: StagedUpload;
    try {
      accept();
      staged = await this.storage.stage(req, { maxBytes, expectedBytes });
    } catch (error) {
      await this.images.abortUpload(image.id);
      this.logger.warn(`upload of image ${image.id} failed requestId=${requestId}: ${(error as Error).message}`);
      throw error;
    }
    try {
      const { virtualSize } = await inspectImageFile(staged.path, image.diskFormat as ImageDiskFormat, staged.size, {
        maxVirtualBytes: this.config.NUBO_IMAGE_MAX_VIRTUAL_BYTES,
      });
      if (!(await this.files.activate(image.id, staged, { virtualSize }))) {
        throw new HttpStatusError(410, `Image ${image.id} could not be found after upload. The image may have been deleted during the upload.`);
      }
    } catch (error) {
      await this.storage.discard(staged);
      await this.images.abortUpload(image.id);
      this.logger.warn(`upload of image ${image.id} refused requestId=${requestId}: ${(error as Error).message}`);
      throw error;
    }
    this.logger.log(`image ${image.id} active: ${staged.size} bytes, sha256 ${staged.sha256} requestId=${requestId}`);
  }

  /** Glance's download: 204 when the image has no data yet. */
  async download(req: IncomingMessage, res: ServerResponse, imageId: string, caller: ImageCaller): Promise<void> {
    const image = await this.images.find(imageId, caller);
    if (image.status !== ImageStatus.Active || !image.fileKey) {
      res.writeHead(204).end();
      return;
    }
    await this.serve(req, res, image);
  }

  /** An agent's download through a signed URL: active images only. */
  async internalDownload(req: IncomingMessage, res: ServerResponse, imageId: string): Promise<void> {
    const image = /^[0-9a-f-]{36}$/.test(imageId) ? await this.db.getRepository(ImageEntity).findOneBy({ id: imageId }) : null;
    if (!image || image.deletedAt || image.status !== ImageStatus.Active || !image.fileKey) {
      throw new NotFoundError(`No active image found with ID ${imageId}`);
    }
    await this.serve(req, res, image, { 'x-nubo-image-sha256': image.osHashValue ?? '' });
  }

  private async serve(req: IncomingMessage, res: ServerResponse, image: ImageEntity, extra: Record<string, string> = {}): Promise<void> {
    const size = await this.storage.size(image.fileKey!);
    if (size === null || size !== image.sizeBytes) {
      this.logger.error(`image ${image.id} is active but its file ${image.fileKey} is ${size === null ? 'missing' : `${size} bytes`}`);
      throw new HttpStatusError(500, `The data of image ${image.id} is not available.`);
    }
    const range = parseByteRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', ...extra };
    if (range) {
      res.writeHead(206, { ...headers, 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${size}` });
    } else {
      // Glance sends the md5 in hex; openstacksdk checks the download against it.
      res.writeHead(200, { ...headers, 'content-length': size, 'content-md5': image.checksum ?? '' });
    }
    await pipeline(this.storage.read(image.fileKey!, range), res).catch((error: Error) => {
      // The reader went away: nothing to answer any more.
      this.logger.debug(`download of image ${image.id} cut: ${error.message}`);
    });
  }
}
