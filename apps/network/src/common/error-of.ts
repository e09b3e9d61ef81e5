/** Test helper: what a call throws, as {code, type, field, message}; undefined when it does not throw. */
import { NuboError } from '@nubo/contracts';

export function errorOf(f: () => unknown): { code: string; type: unknown; field: unknown; message: string } | undefined {
  try {
    f();
  } catch (e) {
    const err = e as NuboError;
    return { code: err.code, type: err.details.type, field: err.details.field, message: err.message };
  }
  return undefined;
}
