import { NuboError } from '@nubo/contracts';
import { parseFloatingIpCreate, parseFloatingIpUpdate } from './floating-ip-body';

const user = { projectId: 'p1', isAdmin: false };
const NET = '11111111-2222-3333-4444-555555555555';
const PORT = '77777777-2222-3333-4444-555555555555';

function refusal(f: () => unknown): unknown[] | undefined {
  try {
    f();
  } catch (e) {
    const err = e as NuboError;
    return [err.code, err.details.field, err.details.type];
  }
  return undefined;
}

describe('floating-ip-body', () => {
  describe('parseFloatingIpCreate', () => {
    it.each([
      ['no network', { floatingip: {} }, ['validation', 'floating_network_id', 'BadRequest']],
      ['a bad network id', { floatingip: { floating_network_id: 'x' } }, ['validation', 'floating_network_id', 'HTTPBadRequest']],
      ['a bad address', { floatingip: { floating_network_id: NET, floating_ip_address: '300.1.1.1' } }, ['validation', 'floating_ip_address', 'HTTPBadRequest']],
      ['a bad port id', { floatingip: { floating_network_id: NET, port_id: 'p' } }, ['validation', 'port_id', 'HTTPBadRequest']],
      ['a fixed IP without a port', { floatingip: { floating_network_id: NET, fixed_ip_address: '10.0.0.5' } }, ['validation', 'fixed_ip_address', 'BadRequest']],
      ['a QoS policy', { floatingip: { floating_network_id: NET, qos_policy_id: NET } }, ['validation', 'qos_policy_id', 'HTTPBadRequest']],
      ['a DNS name', { floatingip: { floating_network_id: NET, dns_name: 'www' } }, ['validation', 'dns_name', 'HTTPBadRequest']],
      ['an unknown attribute', { floatingip: { floating_network_id: NET, pool: 'x' } }, ['validation', 'pool', 'BadRequest']],
      ['another project', { floatingip: { floating_network_id: NET, project_id: 'p2' } }, ['forbidden', undefined, 'HTTPForbidden']],
    ])('refuses %s', (_name, body, want) => expect(refusal(() => parseFloatingIpCreate(body, user))).toEqual(want));

    it('takes an address and an association', () =>
      expect(parseFloatingIpCreate({ floatingip: { floating_network_id: NET, floating_ip_address: '203.0.113.20', port_id: PORT, fixed_ip_address: '10.0.0.5' } }, user)).toEqual({
        projectId: 'p1', networkId: NET, address: 0xcb007114, subnetId: undefined, description: undefined, association: { portId: PORT, fixedIp: 0x0a000005 },
      }));
  });

  describe('parseFloatingIpUpdate', () => {
    it.each([
      ['port_id null (floating ip unset --port)', { floatingip: { port_id: null } }, { description: undefined, association: { portId: null, fixedIp: undefined } }],
      ['a port (floating ip set --port)', { floatingip: { port_id: PORT } }, { description: undefined, association: { portId: PORT, fixedIp: undefined } }],
      ['a fixed IP alone', { floatingip: { fixed_ip_address: '10.0.0.6' } }, { description: undefined, association: { portId: undefined, fixedIp: 0x0a000006 } }],
      ['a description alone', { floatingip: { description: 'd' } }, { description: 'd', association: undefined }],
    ])('takes %s', (_name, body, want) => expect(parseFloatingIpUpdate(body)).toEqual(want));
    it.each([
      ['a network change', { floatingip: { floating_network_id: NET } }, ['validation', 'floating_network_id', 'BadRequest']],
      ['a fixed IP with port_id null', { floatingip: { port_id: null, fixed_ip_address: '10.0.0.5' } }, ['validation', 'fixed_ip_address', 'BadRequest']],
    ])('refuses %s', (_name, body, want) => expect(refusal(() => parseFloatingIpUpdate(body))).toEqual(want));
  });
});
