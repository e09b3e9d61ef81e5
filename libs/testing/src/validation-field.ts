import { ValidationError } from '@nubo/contracts';

/** Runs `fn`, which must throw a ValidationError, and returns the field the error names. */
export function validationFieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details.field as string;
  }
  throw new Error('expected a ValidationError');
}
