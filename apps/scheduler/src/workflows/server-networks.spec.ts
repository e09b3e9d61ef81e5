import { Logger } from '@nestjs/common';
import { BoundPort, TimeoutError, InternalError } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { ServerNetworks, nicsOf } from './server-networks';

const port = (portId: string, mac: string, mtu: number): BoundPort => ({ portId, networkId: 'n', mac, mtu, fixedIps: [], autoCreated: true });

describe(nicsOf.name, () => {
  it.each<[string, BoundPort[], unknown]>([
    ['no port', [], []],
    [
      'ports in order, tap named from the port id',
      [port('A1B2C3D4-E5F6-4789-abcd-ef0123456789', 'fa:16:3e:00:00:01', 1450), port('0b6c2b3e-7a51-4c43-9d1e-1f2a3b4c5d6e', 'fa:16:3e:00:00:02', 1500)],
      [
        { mac: 'fa:16:3e:00:00:01', tap: 'nt-a1b2c3d4e5f6', mtu: 1450 },
        { mac: 'fa:16:3e:00:00:02', tap: 'nt-0b6c2b3e7a51', mtu: 1500 },
      ],
    ],
  ])('%s', (_name, ports, expected) => {
    expect(nicsOf(ports)).toEqual(expected);
  });
});

describe(ServerNetworks.name, () => {
  beforeAll(() => Logger.overrideLogger(['error']));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose']));

  describe('unbindUntilDone', () => {
    function networks(answers: Array<'ok' | 'timeout' | 'fail'>) {
      let calls = 0;
      const rpc = {
        call: async () => {
          calls++;
          const next = answers.shift() ?? 'ok';
          if (next === 'timeout') throw new TimeoutError('nobody serves network.binding.unbind');
          if (next === 'fail') throw new InternalError('database unavailable');
          return { ports: 1 };
        },
      } as unknown as RpcClient;
      const n = new ServerNetworks({} as DataSource, rpc);
      n.policy = { firstDelayMs: 1, maxDelayMs: 2, giveUpAfterMs: 1_000 };
      return { n, calls: () => calls };
    }

    it('asks again while the network service does not answer', async () => {
      const { n, calls } = networks(['timeout', 'timeout', 'ok']);
      await n.unbindUntilDone('s1', { requestId: 'r' });
      expect(calls()).toBe(3);
    });

    it('throws an answered error at once (the job retries)', async () => {
      const { n, calls } = networks(['fail']);
      await expect(n.unbindUntilDone('s1', { requestId: 'r' })).rejects.toThrow('database unavailable');
      expect(calls()).toBe(1);
    });

    it('gives up after giveUpAfterMs with the last timeout', async () => {
      const { n } = networks(Array(10_000).fill('timeout'));
      n.policy = { firstDelayMs: 1, maxDelayMs: 1, giveUpAfterMs: 20 };
      await expect(n.unbindUntilDone('s1', { requestId: 'r' })).rejects.toThrow(TimeoutError);
    });
  });
});
