import { validationFieldOf } from '@nubo/testing';
import { ValidationError } from '@nubo/contracts';
import {
  parseAssignmentFilters,
  parseListFilters,
  parseProjectCreate,
  parseProjectUpdate,
  parseUserCreate,
  parseUserUpdate,
  queryBoolean,
} from './identity-input';

const fieldOf = validationFieldOf;

const current = { domainId: 'default' };

describe('identity input', () => {
  describe('parseProjectCreate', () => {
    it('reads what the openstack CLI sends, with its empty options and tags', () => {
      expect(parseProjectCreate({ project: { name: 'p1', domain_id: 'default', enabled: true, options: {}, tags: [] } })).toEqual({
        name: 'p1',
        domainId: 'default',
        description: '',
        enabled: true,
      });
    });

    it('defaults: enabled, no domain, empty description; null description is empty', () => {
      expect(parseProjectCreate({ project: { name: 'p', description: null } })).toEqual({ name: 'p', domainId: undefined, description: '', enabled: true });
    });

    it.each([
      ['no body', undefined, 'body'],
      ['no project', {}, 'project'],
      ['no name', { project: {} }, 'name'],
      ['empty name', { project: { name: '' } }, 'name'],
      ['name too long', { project: { name: 'x'.repeat(65) } }, 'name'],
      ['padded name', { project: { name: ' p' } }, 'name'],
      ['number name', { project: { name: 5 } }, 'name'],
      ['string enabled', { project: { name: 'p', enabled: 'yes' } }, 'enabled'],
      ['bad domain id', { project: { name: 'p', domain_id: 'a b' } }, 'domain_id'],
      ['a parent project', { project: { name: 'p', domain_id: 'default', parent_id: 'abc' } }, 'parent_id'],
      ['a domain project', { project: { name: 'p', is_domain: true } }, 'is_domain'],
      ['tags', { project: { name: 'p', tags: ['a'] } }, 'tags'],
      ['options', { project: { name: 'p', options: { immutable: true } } }, 'options'],
      ['unknown key', { project: { name: 'p', colour: 'red' } }, 'project'],
    ])('400 naming the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseProjectCreate(body))).toBe(field);
    });

    it('accepts the domain as parent, as Keystone reports it', () => {
      expect(parseProjectCreate({ project: { name: 'p', domain_id: 'default', parent_id: 'default' } }).domainId).toBe('default');
    });
  });

  describe('parseProjectUpdate', () => {
    it('keeps only what is given', () => {
      expect(parseProjectUpdate({ project: { enabled: false } }, current)).toEqual({ name: undefined, description: undefined, enabled: false });
    });

    it.each([
      ['empty change', { project: {} }, 'project'],
      ['another domain', { project: { domain_id: 'other' } }, 'domain_id'],
      ['empty name', { project: { name: '' } }, 'name'],
    ])('400 naming the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseProjectUpdate(body, current))).toBe(field);
    });
  });

  describe('parseUserCreate', () => {
    it('reads what `openstack user create --password P --project X` sends', () => {
      expect(
        parseUserCreate({ user: { name: 'u', default_project_id: 'abc', password: 'P', enabled: true, options: {} } }),
      ).toEqual({ name: 'u', domainId: undefined, defaultProjectId: 'abc', password: 'P', enabled: true });
    });

    it('allows a user without a password', () => {
      expect(parseUserCreate({ user: { name: 'u' } }).password).toBeUndefined();
    });

    it.each([
      ['no name', { user: {} }, 'name'],
      ['name too long', { user: { name: 'x'.repeat(256) } }, 'name'],
      ['number password', { user: { name: 'u', password: 5 } }, 'password'],
      ['huge password', { user: { name: 'u', password: 'x'.repeat(4097) } }, 'password'],
      ['email', { user: { name: 'u', email: 'u@example.org' } }, 'email'],
      ['description', { user: { name: 'u', description: 'd' } }, 'description'],
      ['bad project id', { user: { name: 'u', default_project_id: 'a/b' } }, 'default_project_id'],
      ['unknown key', { user: { name: 'u', shoe_size: 9 } }, 'user'],
    ])('400 naming the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseUserCreate(body))).toBe(field);
    });

    it.each([['x'.repeat(5000)], [12345678]])('never echoes the password in the error: %#', (password) => {
      let error: unknown;
      try {
        parseUserCreate({ user: { name: 'u', password } });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).not.toMatch(/xxxx|12345678/);
    });
  });

  describe('parseUserUpdate', () => {
    it('tells "clear the default project" (null) from "leave it" (absent)', () => {
      expect(parseUserUpdate({ user: { default_project_id: null } }, current).defaultProjectId).toBeNull();
      expect(parseUserUpdate({ user: { enabled: true } }, current).defaultProjectId).toBeUndefined();
    });

    it.each([
      ['empty change', { user: {} }, 'user'],
      ['another domain', { user: { domain_id: 'other' } }, 'domain_id'],
    ])('400 naming the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseUserUpdate(body, current))).toBe(field);
    });
  });

  describe('query filters', () => {
    it.each([
      [undefined, undefined],
      ['true', true],
      ['True', true],
      ['1', true],
      ['', true],
      ['false', false],
      ['FALSE', false],
      ['0', false],
    ])('queryBoolean(%p) is %p', (value, expected) => {
      expect(queryBoolean(value)).toBe(expected);
    });

    it('reads name, domain_id and enabled', () => {
      expect(parseListFilters({ name: 'demo', domain_id: 'default', enabled: 'false' })).toEqual({ name: 'demo', domainId: 'default', enabled: false });
    });

    it('400 when a filter is repeated', () => {
      expect(fieldOf(() => parseListFilters({ name: ['a', 'b'] }))).toBe('name');
    });

    it('reads the role assignment filters keystoneclient sends', () => {
      expect(parseAssignmentFilters({ 'user.id': 'u', 'scope.project.id': 'p', 'role.id': 'r', include_names: 'True' })).toEqual({
        userId: 'u',
        projectId: 'p',
        roleId: 'r',
        includeNames: true,
        unsatisfiable: false,
      });
    });

    it.each(['group.id', 'scope.domain.id', 'scope.system'])('%s asks for assignments Nubo never has', (key) => {
      expect(parseAssignmentFilters({ [key]: 'x' }).unsatisfiable).toBe(true);
    });
  });
});
