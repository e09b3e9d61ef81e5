/**
 * Where image bytes live. Content-addressed: a file's key is its sha256, so identical uploads are
 * stored once and rows count the references (see image-files.ts). An upload is staged (streamed to a
 * temporary place while hashed and measured), inspected, then committed under its key or discarded.
 *
 * Postconditions: a failed or refused stage leaves nothing behind; commit is atomic (a reader sees
 * the whole file or none); remove is idempotent.
 */
import type { Readable } from 'node:stream';

export interface StagedUpload {
  /** A local file with the bytes, for inspection before commit. */
  path: string;
  size: number;
  sha256: string;
  md5: string;
}

/** The body went past the size cap (HTTP 413). */
export class UploadTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`Image exceeds the storage limit of ${maxBytes} bytes`);
    this.name = 'UploadTooLargeError';
  }
}

/** The body ended before the announced length, or the stream broke. */
export class UploadIncompleteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadIncompleteError';
  }
}

export interface ByteRange {
  start: number;
  /** Inclusive, as in HTTP ranges. */
  end: number;
}

export interface ImageStorage {
  init(): Promise<void>;
  stage(source: Readable, options: { maxBytes: number; expectedBytes?: number }): Promise<StagedUpload>;
  /** A fresh path in the staging area, for a tool that writes a file itself (qemu-img convert). */
  stagingPath(suffix: string): string;
  /**
   * Stages a file written at a stagingPath: hashed and measured in place. Past `maxBytes` it throws
   * UploadTooLargeError and leaves the file for the caller to discard.
   */
  stageFile(path: string, options: { maxBytes: number }): Promise<StagedUpload>;
  /** A local path of a committed file, for tools that read files (qemu-img). */
  localPath(key: string): string;
  /** Moves staged bytes under their content key and returns the key. */
  commit(staged: StagedUpload): Promise<string>;
  discard(staged: StagedUpload): Promise<void>;
  /** Size of a stored file, or null when there is none. */
  size(key: string): Promise<number | null>;
  read(key: string, range?: ByteRange): Readable;
  remove(key: string): Promise<void>;
}
