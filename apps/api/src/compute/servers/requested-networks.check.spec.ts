import { ConflictError, NotFoundError, NuboError, TimeoutError, ValidationError } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { checkRequestedNetworks } from './requested-networks.check';

const NET = '0b6c2b3e-7a51-4c43-9d1e-1f2a3b4c5d6e';
const PORT = 'a1b2c3d4-e5f6-4789-abcd-ef0123456789';
const caller = { projectId: 'p1', isAdmin: false };

/** A network service that knows `items` by id (others: NotFound), and records what it was asked. */
function service(items: Record<string, Record<string, unknown> | Error>) {
  const calls: Array<{ subject: string; request: unknown }> = [];
  const rpc = {
    call: async (subject: string, _op: unknown, request: { id: string }) => {
      calls.push({ subject, request });
      const item = items[request.id];
      if (item instanceof Error) throw item;
      if (!item) throw new NotFoundError(`not found`);
      return { item };
    },
  } as unknown as RpcClient;
  return { rpc, calls };
}

async function outcome(items: Record<string, Record<string, unknown> | Error>, requested: Parameters<typeof checkRequestedNetworks>[1]) {
  try {
    await checkRequestedNetworks(service(items).rpc, requested, caller, 'r');
    return 'ok';
  } catch (error) {
    return { type: (error as Error).constructor.name, message: (error as NuboError).message };
  }
}

describe(checkRequestedNetworks.name, () => {
  const net = { id: NET, subnets: ['s1'] };
  const port = { id: PORT, device_id: '', fixed_ips: [{ ip_address: '10.0.0.5' }] };

  it.each<[string, Record<string, Record<string, unknown> | Error>, Parameters<typeof checkRequestedNetworks>[1], unknown]>([
    ['a visible network and a free port', { [NET]: net, [PORT]: port }, [{ networkId: NET }, { portId: PORT }], 'ok'],
    ['an unknown or invisible network', {}, [{ networkId: NET }], { type: ValidationError.name, message: `Network ${NET} could not be found.` }],
    ['a network without subnets', { [NET]: { ...net, subnets: [] } }, [{ networkId: NET }], { type: ValidationError.name, message: `Network ${NET} requires a subnet in order to boot instances on.` }],
    ['an unknown or invisible port', {}, [{ portId: PORT }], { type: ValidationError.name, message: `Port id ${PORT} could not be found.` }],
    ['a port bound to a device', { [PORT]: { ...port, device_id: 'c0ffee00-0000-4000-8000-000000000000' } }, [{ portId: PORT }], { type: ConflictError.name, message: `Port ${PORT} is still in use.` }],
    ['a port without an address', { [PORT]: { ...port, fixed_ips: [] } }, [{ portId: PORT }], { type: ValidationError.name, message: `Port ${PORT} requires a FixedIP in order to be used.` }],
    ['a network service that does not answer', { [NET]: new TimeoutError('no reply') }, [{ networkId: NET }], { type: TimeoutError.name, message: 'no reply' }],
  ])('%s', async (_name, items, requested, expected) => {
    expect(await outcome(items, requested)).toEqual(expected);
  });

  it("asks Neutron's show with the caller, once per distinct network", async () => {
    const { rpc, calls } = service({ [NET]: net, [PORT]: port });
    await checkRequestedNetworks(rpc, [{ networkId: NET }, { networkId: NET, fixedIp: '10.0.0.7' }, { portId: PORT }], caller, 'r');
    expect(calls).toEqual([
      { subject: 'network.networks.show', request: { caller, id: NET, query: {} } },
      { subject: 'network.ports.show', request: { caller, id: PORT, query: {} } },
    ]);
  });
});
