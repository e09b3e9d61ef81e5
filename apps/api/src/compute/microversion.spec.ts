import { HttpException } from '@nestjs/common';
import { MAX_VERSION, negotiate } from './microversion';

describe('negotiate', () => {
  it.each([
    [undefined, '2.1'],
    ['2.1', '2.1'],
    ['latest', MAX_VERSION],
  ])('%s -> %s', (asked, got) => expect(negotiate(asked)).toBe(got));

  it.each([
    ['2.999', 406],
    ['1.1', 406],
    ['banana', 400],
  ])('refuses %s with %i', (asked, status) => {
    try {
      negotiate(asked);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(HttpException);
      expect((error as HttpException).getStatus()).toBe(status);
    }
  });
});
