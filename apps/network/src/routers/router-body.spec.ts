import { NuboError } from '@nubo/contracts';
import { parseInterfaceRequest, parseRouterCreate, parseRouterUpdate } from './router-body';

const user = { projectId: 'p1', isAdmin: false };
const admin = { projectId: 'adm', isAdmin: true };
const NET = '11111111-2222-3333-4444-555555555555';
const SUB = '66666666-2222-3333-4444-555555555555';

/** [status-ish code, field, Neutron type] of a refusal. */
function refusal(f: () => unknown): unknown[] | undefined {
  try {
    f();
  } catch (e) {
    const err = e as NuboError;
    return [err.code, err.details.field, err.details.type];
  }
  return undefined;
}

describe('router-body', () => {
  describe('parseRouterCreate', () => {
    it.each([
      ['a foreign attribute', { router: { color: 'red' } }, user, ['validation', 'color', 'BadRequest']],
      ['no body', { routers: {} }, user, ['validation', 'router', 'BadRequest']],
      ['a non-string name', { router: { name: 5 } }, user, ['validation', 'name', 'HTTPBadRequest']],
      ['a bad admin_state_up', { router: { admin_state_up: 'maybe' } }, user, ['validation', 'admin_state_up', 'HTTPBadRequest']],
      ['a gateway without network_id', { router: { external_gateway_info: { enable_snat: true } } }, admin, ['validation', 'external_gateway_info', 'HTTPBadRequest']],
      ['a gateway with a bad network_id', { router: { external_gateway_info: { network_id: 'x' } } }, user, ['validation', 'external_gateway_info', 'HTTPBadRequest']],
      ['a gateway that is a list', { router: { external_gateway_info: [] } }, user, ['validation', 'external_gateway_info', 'HTTPBadRequest']],
      ['an unknown gateway key', { router: { external_gateway_info: { network_id: NET, foo: 1 } } }, user, ['validation', 'external_gateway_info', 'HTTPBadRequest']],
      ['enable_snat from a user', { router: { external_gateway_info: { network_id: NET, enable_snat: false } } }, user, ['forbidden', undefined, 'HTTPForbidden']],
      ['external_fixed_ips from a user', { router: { external_gateway_info: { network_id: NET, external_fixed_ips: [] } } }, user, ['forbidden', undefined, 'HTTPForbidden']],
      ['a bad external fixed IP', { router: { external_gateway_info: { network_id: NET, external_fixed_ips: [{ ip_address: '1.2.3' }] } } }, admin, ['validation', 'external_gateway_info', 'HTTPBadRequest']],
      ['distributed routers', { router: { distributed: true } }, admin, ['validation', 'distributed', 'HTTPBadRequest']],
      ['ha from a user', { router: { ha: false } }, user, ['forbidden', undefined, 'HTTPForbidden']],
      ['extra routes', { router: { routes: [{ destination: '10.0.0.0/8', nexthop: '10.1.0.1' }] } }, user, ['validation', 'routes', 'HTTPBadRequest']],
      ['another project for a user', { router: { project_id: 'p2' } }, user, ['forbidden', undefined, 'HTTPForbidden']],
    ])('refuses %s', (_name, body, caller, want) => expect(refusal(() => parseRouterCreate(body, caller))).toEqual(want));

    it.each([
      ['a bare router', { router: {} }, user, { projectId: 'p1', name: undefined, description: undefined, adminStateUp: undefined, gateway: undefined }],
      ['a named router with a gateway', { router: { name: 'r', external_gateway_info: { network_id: NET } } }, user,
        { projectId: 'p1', name: 'r', description: undefined, adminStateUp: undefined, gateway: { networkId: NET, enableSnat: undefined, fixedIps: undefined } }],
      ['an admin gateway with SNAT off and an address', { router: { project_id: 'p9', external_gateway_info: { network_id: NET, enable_snat: 'false', external_fixed_ips: [{ subnet_id: SUB, ip_address: '203.0.113.9' }] } } }, admin,
        { projectId: 'p9', name: undefined, description: undefined, adminStateUp: undefined, gateway: { networkId: NET, enableSnat: false, fixedIps: [{ subnetId: SUB, ipAddress: 0xcb007109 }] } }],
      ['an empty gateway (none)', { router: { external_gateway_info: {} } }, user, { projectId: 'p1', name: undefined, description: undefined, adminStateUp: undefined, gateway: null }],
    ])('takes %s', (_name, body, caller, want) => expect(parseRouterCreate(body, caller)).toEqual(want));
  });

  describe('parseRouterUpdate', () => {
    it('refuses a read-only attribute', () => expect(refusal(() => parseRouterUpdate({ router: { tenant_id: 'x' } }, user))).toEqual(['validation', 'tenant_id', 'BadRequest']));
    it('clears the gateway with {} as `router unset --external-gateway` sends', () =>
      expect(parseRouterUpdate({ router: { external_gateway_info: {} } }, user).gateway).toBeNull());
    it('takes `routes: []` as `router set --no-route` sends', () => expect(parseRouterUpdate({ router: { routes: [] } }, user).name).toBeUndefined());
  });

  describe('parseInterfaceRequest', () => {
    it.each([
      ['nothing', {}, ['validation', 'subnet_id', 'BadRequest']],
      ['no object', null, ['validation', 'subnet_id', 'BadRequest']],
      ['both', { subnet_id: SUB, port_id: NET }, ['validation', 'port_id', 'BadRequest']],
      ['a bad subnet id', { subnet_id: 'nope' }, ['validation', 'subnet_id', 'HTTPBadRequest']],
      ['a bad port id', { port_id: 7 }, ['validation', 'port_id', 'HTTPBadRequest']],
      ['an unknown key', { subnet_id: SUB, x: 1 }, ['validation', 'x', 'BadRequest']],
    ])('refuses %s', (_name, body, want) => expect(refusal(() => parseInterfaceRequest(body))).toEqual(want));
    it.each([
      [{ subnet_id: SUB }, { subnetId: SUB }],
      [{ port_id: NET }, { portId: NET }],
    ])('takes %j', (body, want) => expect(parseInterfaceRequest(body)).toEqual(want));
  });
});
