/** Validation of the options of rebuild, resize and revertResize, as they reach a driver. */
import { ValidationError } from '@nubo/contracts';
import type { RebuildOptions, ResizeOptions } from './hypervisor-driver';
import { validateStopOptions } from './instance-spec';

const OPERATION_ID = /^[A-Za-z0-9._:-]{1,255}$/;

export function validateResizeOptions(value: unknown): ResizeOptions {
  const o = (value ?? {}) as Partial<ResizeOptions>;
  if (typeof o.powerOn !== 'boolean') throw new ValidationError('powerOn must be a boolean', 'powerOn');
  return { powerOn: o.powerOn, graceSeconds: validateStopOptions(o).graceSeconds };
}

export function validateRebuildOptions(value: unknown): RebuildOptions {
  const o = (value ?? {}) as Partial<RebuildOptions>;
  const { powerOn, graceSeconds } = validateResizeOptions(o);
  if (o.preserveEphemeral !== undefined && typeof o.preserveEphemeral !== 'boolean') {
    throw new ValidationError('preserveEphemeral must be a boolean', 'preserveEphemeral');
  }
  // It names a file's content, never a path; still, only plain characters.
  if (typeof o.rebuildId !== 'string' || !OPERATION_ID.test(o.rebuildId)) {
    throw new ValidationError('rebuildId must be 1 to 255 letters, digits and ._:-', 'rebuildId');
  }
  return { powerOn, graceSeconds, preserveEphemeral: o.preserveEphemeral ?? false, rebuildId: o.rebuildId };
}
