import { CommandRefusal, CommandRefusedError, ConflictError, MigrationStatusReply, MigrationProgressEvent, TimeoutError } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { HostEpochs } from '../hosts/host-epochs';
import { AgentRetry } from './agent-retry';
import { LiveMigrationRpc } from './server-live-migrate-rpc';

const reply: MigrationStatusReply = { phase: 'active', memory: { totalBytes: 10, processedBytes: 5, remainingBytes: 5 } };
const ref = { serverId: 's1', migrationId: 'm1' };
const ctx = { opId: 'live-migrate-m1', requestId: 'req-1' };

function setup(direct: () => Promise<unknown>) {
  const calls: string[] = [];
  const rpc = {
    call: jest.fn(async (subject: string) => {
      calls.push(`call ${subject}`);
      return direct();
    }),
    emit: jest.fn(),
  } as unknown as RpcClient;
  const retry = {
    call: jest.fn(async (hostId: string, op: string) => {
      calls.push(`retry ${hostId} ${op}`);
      return reply;
    }),
  } as unknown as AgentRetry;
  return { calls, rpc, live: new LiveMigrationRpc(rpc, retry) };
}

describe(LiveMigrationRpc.name, () => {
  describe('status', () => {
    it('asks the agent straight, without AgentRetry, when it answers', async () => {
      const { calls, live } = setup(async () => reply);
      await expect(live.status('h1', ref, ctx)).resolves.toEqual(reply);
      expect(calls).toEqual(['call agent.h1.server.migration-status']);
    });

    it('goes through AgentRetry when the agent does not answer', async () => {
      const { calls, live } = setup(async () => Promise.reject(new TimeoutError('nobody serves it')));
      await expect(live.status('h1', ref, ctx)).resolves.toEqual(reply);
      expect(calls).toEqual(['call agent.h1.server.migration-status', 'retry h1 server.migration-status']);
    });

    it("throws the agent's own error at once", async () => {
      const { calls, live } = setup(async () => Promise.reject(new ConflictError('server s1 is not on this host')));
      await expect(live.status('h1', ref, ctx)).rejects.toBeInstanceOf(ConflictError);
      expect(calls).toHaveLength(1);
    });
  });

  describe('commands', () => {
    /** A HostEpochs over a fake lease table: `epochs` is read once per send. */
    const epochsFrom = (epochs: number[]) => {
      const db = { query: jest.fn(async () => [{ epoch: String(epochs.shift()) }]) };
      return new HostEpochs(db as never);
    };
    const passThrough = { call: jest.fn((_h: string, _op: string, call: () => Promise<unknown>) => call()) } as unknown as AgentRetry;

    it("carry the host's current lease epoch, and are sent again with a newer one the agent holds", async () => {
      const sent: Array<Record<string, unknown>> = [];
      const rpc = {
        call: jest.fn(async (_subject: string, _op: unknown, request: Record<string, unknown>) => {
          sent.push(request);
          if (request.epoch === 7) throw new CommandRefusedError(CommandRefusal.StaleEpoch, 'stale', {});
          return { cleaned: true };
        }),
      } as unknown as RpcClient;
      const live = new LiveMigrationRpc(rpc, passThrough, epochsFrom([7, 8]));
      await expect(live.cleanupSource('h1', ref, ctx)).resolves.toEqual({ cleaned: true });
      expect(sent.map((r) => [r.epoch, r.opId, r.serverId])).toEqual([
        [7, 'live-migrate-m1', 's1'],
        [8, 'live-migrate-m1', 's1'],
      ]);
      expect(sent.every((r) => typeof r.deadline === 'number')).toBe(true);
    });
  });

  describe('publish', () => {
    it("emits on the server's migration subject and never throws", () => {
      const { rpc, live } = setup(async () => reply);
      const event = { serverId: 's1', migrationId: 'm1' } as MigrationProgressEvent;
      live.publish(event, ctx);
      expect((rpc.emit as jest.Mock).mock.calls[0].slice(0, 1)).toEqual(['server.s1.migration']);
      (rpc.emit as jest.Mock).mockImplementation(() => {
        throw new Error('not connected');
      });
      expect(() => live.publish(event, ctx)).not.toThrow();
    });
  });
});
