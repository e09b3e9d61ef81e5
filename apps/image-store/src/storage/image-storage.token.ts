/** Nest injection token of the ImageStorage driver. */
export const IMAGE_STORAGE = Symbol('IMAGE_STORAGE');
