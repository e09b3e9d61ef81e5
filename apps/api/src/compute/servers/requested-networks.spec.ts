import { NuboError, RequestedNetwork } from '@nubo/contracts';
import { MAX_REQUESTED_NETWORKS, parseRequestedNetworks } from './requested-networks';

const NET = '0b6c2b3e-7a51-4c43-9d1e-1f2a3b4c5d6e';
const PORT = 'a1b2c3d4-e5f6-4789-abcd-ef0123456789';

function outcome(value: unknown): RequestedNetwork[] | { field: unknown; message: string } {
  try {
    return parseRequestedNetworks(value);
  } catch (error) {
    return { field: (error as NuboError).details.field, message: (error as NuboError).message };
  }
}

describe(parseRequestedNetworks.name, () => {
  it.each<[string, unknown, RequestedNetwork[]]>([
    ['absent', undefined, []],
    ['"auto"', 'auto', []],
    ['"none"', 'none', []],
    ['an empty list', [], []],
    ['--network N', [{ uuid: NET }], [{ networkId: NET }]],
    ['--nic net-id=N,v4-fixed-ip=A', [{ uuid: NET, fixed_ip: '10.0.0.5' }], [{ networkId: NET, fixedIp: '10.0.0.5' }]],
    ['--port P', [{ port: PORT }], [{ portId: PORT }]],
    ['a port beside a uuid (the port wins, as in Nova)', [{ port: PORT, uuid: NET }], [{ portId: PORT }]],
    ['a null port with a uuid', [{ port: null, uuid: NET }], [{ networkId: NET }]],
    ['upper-case ids', [{ uuid: NET.toUpperCase() }], [{ networkId: NET }]],
    ['the same network twice (two NICs), in order', [{ uuid: NET }, { port: PORT }, { uuid: NET }], [{ networkId: NET }, { portId: PORT }, { networkId: NET }]],
  ])('accepts %s', (_name, value, expected) => {
    expect(outcome(value)).toEqual(expected);
  });

  it.each<[string, unknown, string, string]>([
    ['another string', 'all', 'networks', `Invalid input for field/attribute networks. Value: "all". "all" is not of type 'array'`],
    ['an object', { uuid: NET }, 'networks', `is not of type 'array'`],
    ['an item that is not an object', ['x'], 'networks', `"x" is not of type 'object'`],
    ['an unknown key (tag is 2.32+)', [{ uuid: NET, tag: 't' }], 'networks', `Additional properties are not allowed ('tag' was unexpected)`],
    ['neither uuid nor port', [{}], 'networks', `Bad network format: missing 'uuid'`],
    ['only a fixed_ip', [{ fixed_ip: '10.0.0.5' }], 'networks', `Bad network format: missing 'uuid'`],
    ['a uuid that is not one', [{ uuid: 'net1' }], 'uuid', 'Bad networks format: network uuid is not in proper format (net1)'],
    ['a uuid that is not a string', [{ uuid: 7 }], 'uuid', `Invalid input for field/attribute uuid. Value: 7. 7 is not of type 'string'`],
    ['a port that is not a uuid', [{ port: 'p1' }], 'port', `Invalid input for field/attribute port. Value: "p1". "p1" is not valid under any of the given schemas`],
    ['a bad fixed_ip', [{ uuid: NET, fixed_ip: '10.0.0.300' }], 'fixed_ip', `"10.0.0.300" is not a 'ip-address'`],
    ['a fixed_ip with a port', [{ port: PORT, fixed_ip: '10.0.0.5' }], 'fixed_ip', `Specified Fixed IP '10.0.0.5' cannot be used with port '${PORT}': the two cannot be specified together.`],
    ['the same port twice', [{ port: PORT }, { port: PORT }], 'networks', `Bad networks format: port ${PORT} is requested more than once`],
    ['too many NICs', Array.from({ length: MAX_REQUESTED_NETWORKS + 1 }, () => ({ uuid: NET })), 'networks', `Too many networks: at most ${MAX_REQUESTED_NETWORKS}`],
  ])('refuses %s with a 400 naming the field', (_name, value, field, message) => {
    const result = outcome(value);
    expect(result).toMatchObject({ field });
    expect((result as { message: string }).message).toContain(message);
  });
});
