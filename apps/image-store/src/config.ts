import { env, infraSchema, loadConfigOrExit } from '@nubo/config';
import { join } from 'node:path';

export const imageSchema = {
  /** Redis carries the image jobs (queue `nubo-images`: conversions). */
  ...infraSchema,
  NUBO_HEALTH_PORT: env.port({ default: 8783 }),
  /** Signs the API's requests on behalf of users and the agents' download URLs. */
  NUBO_INTERNAL_SECRET: env.string({ pattern: /^.{32,}$/ }),
  /** The HTTP server for image bytes (uploads and downloads through the API, agent downloads). */
  NUBO_IMAGE_HTTP_HOST: env.string({ default: '127.0.0.1' }),
  NUBO_IMAGE_HTTP_PORT: env.port({ default: 8792 }),
  /** Where the bytes live; defaults to $NUBO_STATE_DIR/images. Replicas must share it. */
  NUBO_IMAGE_DIR: env.optionalString(),
  NUBO_STATE_DIR: env.string({ default: '/var/lib/nubo' }),
  /** Largest upload accepted, in bytes (413 past it). Default 20 GiB. */
  NUBO_IMAGE_MAX_BYTES: env.int({ default: 20 * 1024 ** 3, min: 1 }),
  /** Largest virtual disk size an image may declare. Default 1 TiB. */
  NUBO_IMAGE_MAX_VIRTUAL_BYTES: env.int({ default: 1024 ** 4, min: 1 }),
  /** Per-project image quota: how many images, and how many bytes of image data. */
  NUBO_IMAGE_QUOTA_COUNT: env.int({ default: 100, min: 0 }),
  NUBO_IMAGE_QUOTA_BYTES: env.int({ default: 200 * 1024 ** 3, min: 0 }),
  /** Conversions (qemu-img convert) run at once by this replica. */
  NUBO_IMAGE_CONVERT_CONCURRENCY: env.int({ default: 2, min: 1, max: 64 }),
  /** CPU seconds (prlimit --cpu) and wall-clock seconds one conversion may take. */
  NUBO_IMAGE_CONVERT_CPU_S: env.int({ default: 600, min: 1 }),
  NUBO_IMAGE_CONVERT_TIMEOUT_S: env.int({ default: 1800, min: 1 }),
};
export type ImageConfig = ReturnType<typeof loadImageConfig>;
export const loadImageConfig = () => loadConfigOrExit(imageSchema, 'image-store');

export function imageDir(config: Pick<ImageConfig, 'NUBO_IMAGE_DIR' | 'NUBO_STATE_DIR'>): string {
  return config.NUBO_IMAGE_DIR ?? join(config.NUBO_STATE_DIR, 'images');
}

export const IMAGE_CONFIG = Symbol('IMAGE_CONFIG');
