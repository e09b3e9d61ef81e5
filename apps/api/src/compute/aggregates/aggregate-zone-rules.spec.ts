import { pyList } from './aggregate-zone-rules';

describe('pyList', () => {
  it.each([
    [[], '[]'],
    [['az1'], "['az1']"],
    [['az1', 'az 2'], "['az1', 'az 2']"],
    [["it's"], `["it's"]`],
    [[`a'b"c`], `['a\\'b"c']`],
    [['back\\slash'], "['back\\\\slash']"],
  ])('prints %j as Python does: %s', (items, expected) => {
    expect(pyList(items)).toBe(expected);
  });
});
