import { ValidationError } from '@nubo/contracts';
import { parseInterfaceAttach } from './interface-attach.body';
import { interfaceAttachmentView } from './interface-attachment.view';

const PORT = '5f0c7b0e-8a43-4c1e-9d55-0f3b1a2c4d5e';
const NET = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9';

describe('parseInterfaceAttach', () => {
  it.each([
    [{ interfaceAttachment: { port_id: PORT } }, { portId: PORT }],
    [{ interfaceAttachment: { net_id: NET } }, { networkId: NET }],
    [{ interfaceAttachment: { net_id: NET, fixed_ips: [{ ip_address: '10.0.0.7' }] } }, { networkId: NET, fixedIp: '10.0.0.7' }],
    [{ interfaceAttachment: { net_id: NET, fixed_ips: [] } }, { networkId: NET }],
  ])('accepts %j', (body, expected) => {
    expect(parseInterfaceAttach(body)).toEqual(expected);
  });

  it.each([
    [undefined, 'body'],
    [{}, 'interfaceAttachment'],
    [{ interfaceAttachment: [] }, 'interfaceAttachment'],
    [{ interfaceAttachment: {} }, 'port_id'],
    [{ interfaceAttachment: { port_id: PORT, net_id: NET } }, 'port_id'],
    [{ interfaceAttachment: { port_id: 'nope' } }, 'port_id'],
    [{ interfaceAttachment: { net_id: 42 } }, 'net_id'],
    [{ interfaceAttachment: { port_id: PORT, fixed_ips: [{ ip_address: '10.0.0.7' }] } }, 'fixed_ips'],
    [{ interfaceAttachment: { net_id: NET, fixed_ips: 'x' } }, 'fixed_ips'],
    [{ interfaceAttachment: { net_id: NET, fixed_ips: [{ ip_address: '1.1.1.1' }, { ip_address: '1.1.1.2' }] } }, 'fixed_ips'],
    [{ interfaceAttachment: { net_id: NET, fixed_ips: [{ ip_address: '300.1.1.1' }] } }, 'ip_address'],
    [{ interfaceAttachment: { net_id: NET, fixed_ips: [{ subnet_id: NET }] } }, 'fixed_ips'],
    [{ interfaceAttachment: { net_id: NET, bogus: 1 } }, 'interfaceAttachment'],
    [{ interfaceAttachment: { port_id: PORT, tag: 'a' } }, 'tag'],
  ])('refuses %j naming %s', (body, field) => {
    let error: unknown;
    try {
      parseInterfaceAttach(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details.field).toBe(field);
  });
});

describe('interfaceAttachmentView', () => {
  it("maps a Neutron port to Nova's interfaceAttachment", () => {
    const port = {
      id: PORT,
      network_id: NET,
      mac_address: 'fa:16:3e:12:34:56',
      status: 'ACTIVE',
      device_id: 'x',
      fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.7' }],
    };
    expect(interfaceAttachmentView(port)).toEqual({
      port_state: 'ACTIVE',
      fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.7' }],
      port_id: PORT,
      net_id: NET,
      mac_addr: 'fa:16:3e:12:34:56',
    });
  });

  it('gives a port without addresses an empty fixed_ips', () => {
    expect(interfaceAttachmentView({ id: PORT, network_id: NET, mac_address: 'fa:16:3e:00:00:01', status: 'DOWN' }).fixed_ips).toEqual([]);
  });
});
