import { ConflictError, ValidationError, VmState } from '@nubo/contracts';
import { checkTag, checkTaggable, parseServerDescription, parseTagList, tagFilters } from './server-tags';

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return (error.details as { field?: string }).field;
    throw error;
  }
  return undefined;
};

describe('checkTag', () => {
  it.each(['a', 'x'.repeat(60), 'with space', 'ünicode'])('takes %j', (tag) => expect(checkTag(tag)).toBe(tag));
  it.each([[''], ['x'.repeat(61)], ['a,b'], ['a/b'], [3], [null]])('refuses %j', (tag) => expect(() => checkTag(tag)).toThrow(ValidationError));
});

describe('parseTagList', () => {
  it('folds duplicates and sorts', () => expect(parseTagList({ tags: ['b', 'a', 'b'] })).toEqual(['a', 'b']));
  it('takes an empty list', () => expect(parseTagList({ tags: [] })).toEqual([]));
  it.each([
    ['no tags', {}],
    ['not a list', { tags: 'a' }],
    ['another key', { tags: [], other: 1 }],
    ['a bad tag', { tags: ['a/b'] }],
    ['51 tags', { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }],
    ['not an object', []],
  ])('refuses %s', (_n, body) => expect(() => parseTagList(body)).toThrow(ValidationError));
});

describe('checkTaggable', () => {
  it.each([VmState.Active, VmState.Stopped, VmState.Paused])('lets %s be tagged', (vmState) =>
    expect(() => checkTaggable({ id: 's', vmState, taskState: null }, 'update tags')).not.toThrow());
  it.each([VmState.Building, VmState.Error])('refuses %s with 409', (vmState) =>
    expect(() => checkTaggable({ id: 's', vmState, taskState: null }, 'update tags')).toThrow(ConflictError));
});

describe('parseServerDescription', () => {
  it.each([
    [{}, undefined],
    [{ description: null }, null],
    [{ description: '' }, ''],
    [{ description: 'web tier' }, 'web tier'],
  ])('%j -> %j', (obj, expected) => expect(parseServerDescription(obj)).toBe(expected));
  it.each([[{ description: 3 }], [{ description: 'x'.repeat(256) }], [{ description: 'a\nb' }]])('refuses %j naming description', (obj) =>
    expect(fieldOf(() => parseServerDescription(obj))).toBe('description'));
});

describe('tagFilters', () => {
  const run = (q: Record<string, string>) => {
    const params: unknown[] = [];
    const where = tagFilters((k) => q[k], (v) => `$${params.push(v)}`);
    return { where, params };
  };
  it.each([
    [{ tags: 'a,b' }, 's.tags @> CAST($1 AS text[])', ['a', 'b']],
    [{ 'tags-any': 'a' }, 's.tags && CAST($1 AS text[])', ['a']],
    [{ 'not-tags': 'a,b' }, 'NOT (s.tags @> CAST($1 AS text[]))', ['a', 'b']],
    [{ 'not-tags-any': 'c' }, 'NOT (s.tags && CAST($1 AS text[]))', ['c']],
  ])('%j', (q, sql, value) => expect(run(q)).toEqual({ where: [sql], params: [value] }));
  it('adds nothing without filters', () => expect(run({})).toEqual({ where: [], params: [] }));
  it('refuses an empty tag', () => expect(() => run({ tags: 'a,,b' })).toThrow(ValidationError));
});
