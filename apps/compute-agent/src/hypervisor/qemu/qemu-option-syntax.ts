/**
 * QEMU's option syntax (`key=value,key=value`): the one escaping rule for text inside it, and the
 * check on host paths put there.
 */

/** QEMU splits option values on commas; a literal comma is written twice. Nothing else is special in a value. */
export function escapeOptionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

/** Control characters would survive escaping and make QEMU's error messages and logs lie. */
export function assertSafePath(path: string): void {
  if (!path.startsWith('/')) throw new Error(`path must be absolute: ${path}`);
  if (/[\u0000-\u001f\u007f]/.test(path)) throw new Error('path contains control characters');
}
