import { HttpException } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import { MAX_VERSION, atLeast, negotiate, requireVersion } from './microversion';

describe('negotiate', () => {
  it.each([
    [undefined, '2.1'],
    ['2.1', '2.1'],
    ['2.9', '2.9'],
    ['2.30', '2.30'],
    ['latest', MAX_VERSION],
  ])('%s -> %s', (asked, got) => expect(negotiate(asked)).toBe(got));

  it('advertises 2.30, what the stock CLI needs for live migration to a named host', () => expect(MAX_VERSION).toBe('2.30'));

  it.each([
    ['2.31', 406],
    ['2.999', 406],
    ['1.1', 406],
    ['3.0', 406],
    ['banana', 400],
    ['2.05', 400],
    ['2.', 400],
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

describe('atLeast', () => {
  it.each([
    ['2.10', '2.9', true],
    ['2.9', '2.10', false],
    ['2.30', '2.30', true],
    ['2.1', '2.2', false],
    ['3.0', '2.99', true],
  ])('%s >= %s is %s', (v, min, expected) => expect(atLeast(v, min)).toBe(expected));
});

describe('requireVersion', () => {
  it('answers 404 below the version, as Nova does for a method it has not yet', () => {
    expect(() => requireVersion('2.22', '2.23')).toThrow(NotFoundError);
    expect(() => requireVersion('2.23', '2.23')).not.toThrow();
  });
});
