import { NovaNameFormat, isNovaName } from './nova-names';

describe('isNovaName', () => {
  it.each<[string, NovaNameFormat, boolean]>([
    ['agg1', 'name', true],
    ['agg 1', 'name', true],
    ['zone é', 'name', true],
    [' agg', 'name', false],
    ['agg ', 'name', false],
    ['agg\u00a0', 'name', false],
    ['a\tb', 'name', false],
    ['a\u2028b', 'name', false],
    ['a\u0000b', 'name', false],
    ['smile 😀', 'name', false],
    ['az:1', 'name', true],
    ['az:1', 'az_name', false],
    ['az-1', 'az_name', true],
    [' az', 'az_name', false],
    ['  padded  ', 'name_with_leading_trailing_spaces', true],
    ['   ', 'name_with_leading_trailing_spaces', false],
    ['a\nb', 'name_with_leading_trailing_spaces', false],
  ])('%j as %s: %s', (value, format, expected) => {
    expect(isNovaName(value, format)).toBe(expected);
  });
});
