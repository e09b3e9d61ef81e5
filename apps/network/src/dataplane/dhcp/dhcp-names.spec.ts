import { ValidationError } from '@nubo/contracts';
import { DhcpNaming, hostnameOf, subnetTag } from './dhcp-names';
import { NETWORK_ID, SUBNET_A } from './dhcp-fixtures';

describe(DhcpNaming.name, () => {
  it.each([
    [{}, { namespace: 'qdhcp-0a1b2c3d4e5f', innerDevice: 'ns-0a1b2c3d4e5f', outerDevice: 'nd-0a1b2c3d4e5f' }],
    [{ namespacePrefix: 'nbt-d-', linkPrefix: 'nbtd' }, { namespace: 'nbt-d-0a1b2c3d4e5f', innerDevice: 'ns-0a1b2c3d4e5f', outerDevice: 'nbtd0a1b2c3d4e5' }],
    // A cloud's name in front (deploy/bench.sh's nubo-bench): longer than an interface name may be.
    [{ namespacePrefix: 'nubo-bench-qdhcp-' }, { namespace: 'nubo-bench-qdhcp-0a1b2c3d4e5f', innerDevice: 'ns-0a1b2c3d4e5f', outerDevice: 'nd-0a1b2c3d4e5f' }],
  ])('derives names within IFNAMSIZ from the network id (%o)', (options, names) => {
    const of = new DhcpNaming(options).of(NETWORK_ID.toUpperCase());
    expect(of).toEqual(names);
    expect(of.innerDevice.length).toBeLessThanOrEqual(15);
    expect(of.outerDevice.length).toBeLessThanOrEqual(15);
  });

  it('owns exactly its prefix followed by 12 hex digits', () => {
    const naming = new DhcpNaming();
    expect(['qdhcp-0a1b2c3d4e5f', 'qdhcp-0a1b2c3d4e5', 'qdhcp-0a1b2c3d4e5fa', 'qrouter-0a1b2c3d4e5f', 'nbt-d-0a1b2c3d4e5f'].map((n) => naming.owns(n)))
      .toEqual([true, false, false, false, false]);
  });

  it.each([{ namespacePrefix: 'Q' }, { namespacePrefix: 'a.b' }, { linkPrefix: 'toolong' }])('refuses the prefix %o', (options) => {
    expect(() => new DhcpNaming(options)).toThrow(ValidationError);
  });

  it('refuses an id that is not a UUID', () => expect(() => new DhcpNaming().of('0a1b2c3d4e5f\n')).toThrow(ValidationError));
  it('tags subnets by id and names hosts from their address', () => {
    expect(subnetTag(SUBNET_A.toUpperCase())).toBe(`subnet-${SUBNET_A}`);
    expect(hostnameOf('10.0.0.5')).toBe('host-10-0-0-5');
  });
});
