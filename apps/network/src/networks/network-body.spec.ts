import { errorOf } from '../common/error-of';
import { parseNetworkCreate, parseNetworkUpdate } from './network-body';

const user = { projectId: 'p1', isAdmin: false };
const admin = { projectId: 'p0', isAdmin: true };
const create = (body: Record<string, unknown>, caller = user) => parseNetworkCreate({ network: body }, caller);

describe('parseNetworkCreate', () => {
  it.each([
    ['a tenant network', {}, user, { networkType: 'vxlan', segmentationId: undefined, mtu: 1450, portSecurity: true, shared: false, adminStateUp: true, projectId: 'p1' }],
    ['a vxlan network with its VNI', { 'provider:network_type': 'vxlan', 'provider:segmentation_id': 5000 }, admin, { segmentationId: 5000, mtu: 1450 }],
    ['a flat network', { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' }, admin, { networkType: 'flat', segmentationId: null, mtu: 1500 }],
    ['a vlan network', { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 100 }, admin, { mtu: 1500, segmentationId: 100 }],
    ['a smaller MTU', { mtu: 1400 }, user, { mtu: 1400 }],
    ['"false" as a string', { admin_state_up: 'false' }, user, { adminStateUp: false }],
    ['a shared network for another project', { shared: true, project_id: 'p9' }, admin, { shared: true, projectId: 'p9' }],
  ])('takes %s', (_name, body, caller, want) => expect(create(body, caller)).toMatchObject(want));

  it.each([
    ['shared from a user', { shared: true }, user, undefined, 'forbidden'],
    ['external from a user', { 'router:external': true }, user, undefined, 'forbidden'],
    ['a provider type from a user', { 'provider:network_type': 'vlan' }, user, undefined, 'forbidden'],
    ['gre', { 'provider:network_type': 'gre' }, admin, 'provider:network_type', 'validation'],
    ['vlan without physical network', { 'provider:network_type': 'vlan', 'provider:segmentation_id': 5 }, admin, 'provider:physical_network', 'validation'],
    ['vlan 4095', { 'provider:network_type': 'vlan', 'provider:physical_network': 'p', 'provider:segmentation_id': 4095 }, admin, 'provider:segmentation_id', 'validation'],
    ['flat with a segment', { 'provider:network_type': 'flat', 'provider:physical_network': 'p', 'provider:segmentation_id': 3 }, admin, 'provider:segmentation_id', 'validation'],
    ['VNI 0', { 'provider:segmentation_id': 0 }, admin, 'provider:segmentation_id', 'validation'],
    ['MTU 1500 on vxlan', { mtu: 1500 }, user, 'mtu', 'validation'],
    ['a numeric name', { name: 5 }, user, 'name', 'validation'],
    ['admin_state_up "maybe"', { admin_state_up: 'maybe' }, user, 'admin_state_up', 'validation'],
    ['another project from a user', { project_id: 'p2' }, user, undefined, 'forbidden'],
  ])('refuses %s', (_name, body, caller, field, code) => expect(errorOf(() => create(body, caller))).toMatchObject({ field, code }));
});

describe('parseNetworkUpdate', () => {
  it.each([
    ['the segment', { 'provider:segmentation_id': 7 }, admin, 'validation'],
    ['sharing from a user', { shared: true }, user, 'forbidden'],
    ['MTU 9000', { mtu: 9000 }, user, 'validation'],
  ])('refuses %s', (_name, body, caller, code) => expect(errorOf(() => parseNetworkUpdate({ network: body }, caller, 'vxlan'))).toMatchObject({ code }));
  it('renames', () => expect(parseNetworkUpdate({ network: { name: 'n2' } }, user, 'vxlan').name).toBe('n2'));
});
