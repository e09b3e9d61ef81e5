/** Image-store contracts (queue group `nubo-image`). v1: get. Glance's full API comes with issue #4. */
import { rpc } from './rpc';

export interface ImageSummary {
  id: string;
  name: string;
  status: string;
  visibility: string;
  projectId: string;
}

export interface ImageGetRequest {
  imageId: string;
  /** The caller's project: images of other projects that are not public answer NotFound. */
  projectId: string;
}

export const ImageOps = {
  get: rpc<ImageGetRequest, ImageSummary>('image.get', { timeoutMs: 5_000 }),
  list: rpc<{ projectId: string }, { images: ImageSummary[] }>('image.list', { timeoutMs: 5_000 }),
};
