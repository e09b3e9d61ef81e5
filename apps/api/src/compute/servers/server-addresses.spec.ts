import { Logger } from '@nestjs/common';
import { ServerAddress, TimeoutError } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { addressesView, serverAddresses } from './server-addresses';

const a = (network: string, addr: string, mac: string): ServerAddress => ({ network, addr, version: 4, mac });
const fixed = (addr: string, mac: string) => ({ version: 4, addr, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': mac });

describe(addressesView.name, () => {
  it.each<[string, ServerAddress[] | undefined, unknown]>([
    ['no ports', undefined, {}],
    ['an empty list', [], {}],
    ['one port', [a('private', '10.0.0.5', 'fa:16:3e:00:00:01')], { private: [fixed('10.0.0.5', 'fa:16:3e:00:00:01')] }],
    [
      'two ports on one network and one on another, in port order',
      [a('private', '10.0.0.5', 'fa:16:3e:00:00:01'), a('db', '192.168.7.9', 'fa:16:3e:00:00:02'), a('private', '10.0.0.6', 'fa:16:3e:00:00:03')],
      { private: [fixed('10.0.0.5', 'fa:16:3e:00:00:01'), fixed('10.0.0.6', 'fa:16:3e:00:00:03')], db: [fixed('192.168.7.9', 'fa:16:3e:00:00:02')] },
    ],
  ])('maps %s to Nova addresses', (_name, input, expected) => {
    expect(addressesView(input)).toEqual(expected);
  });
});

describe(serverAddresses.name, () => {
  const S1 = '11111111-1111-4111-8111-111111111111';
  const S2 = '22222222-2222-4222-8222-222222222222';
  const S3 = '33333333-3333-4333-8333-333333333333';
  /** S1 and S2 asked for networks, S3 did not. */
  const db = { query: async () => [{ id: S1 }, { id: S2 }] } as unknown as DataSource;
  const none = { query: async () => [] } as unknown as DataSource;

  function rpc(answer: () => unknown) {
    const calls: unknown[] = [];
    const client = { call: async (subject: string, _op: unknown, request: unknown) => (calls.push({ subject, request }), answer()) } as unknown as RpcClient;
    return { client, calls };
  }

  it('asks once for every server of the response that has networks', async () => {
    const { client, calls } = rpc(() => ({ servers: { [S1]: [a('private', '10.0.0.5', 'fa:16:3e:00:00:01')] } }));
    const views = await serverAddresses(db, client, [S1, S2, S3], 'req-1');
    expect(calls).toEqual([{ subject: 'network.binding.addresses', request: { serverIds: [S1, S2] } }]);
    expect(Object.fromEntries(views)).toEqual({ [S1]: { private: [fixed('10.0.0.5', 'fa:16:3e:00:00:01')] }, [S2]: {}, [S3]: {} });
  });

  it('does not call the network service when no server has networks', async () => {
    const { client, calls } = rpc(() => ({ servers: {} }));
    expect(Object.fromEntries(await serverAddresses(none, client, [S3], 'r'))).toEqual({ [S3]: {} });
    expect(calls).toEqual([]);
  });

  it('shows {} and logs a warning when the network service does not answer', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { client } = rpc(() => {
      throw new TimeoutError('no reply from network.binding.addresses within 5000 ms');
    });
    expect(Object.fromEntries(await serverAddresses(db, client, [S1, S3], 'req-9'))).toEqual({ [S1]: {}, [S3]: {} });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('no reply from network.binding.addresses'));
    warn.mockRestore();
  });
});
