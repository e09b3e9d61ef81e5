import { Logger } from '@nestjs/common';
import { ConflictError, TimeoutError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { AgentRestartedError, AgentRetry, DEFAULT_RETRY_POLICY, HostDownError, retryDelayMs } from './agent-retry';

/** A compute.hosts row the test changes as it goes. */
function fakeHosts(initial: { state: string; started: string } | undefined) {
  const host = { row: initial };
  const db = { query: jest.fn(async () => (host.row ? [{ ...host.row }] : [])) } as unknown as DataSource;
  return { host, db };
}

const noResponders = () => new TimeoutError('nobody serves agent.h1.server.spawn', { noResponders: true });
const never = () => new Promise<never>(() => undefined);

describe(AgentRetry.name, () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  function retry(db: DataSource, giveUpAfterMs = 5_000) {
    const r = new AgentRetry(db);
    r.policy = { firstDelayMs: 5, maxDelayMs: 20, giveUpAfterMs, watchMs: 10 };
    return r;
  }

  describe('call', () => {
    it('asks again, each time afresh, until the agent answers', async () => {
      const { db } = fakeHosts({ state: 'up', started: 't1' });
      const call = jest.fn().mockRejectedValueOnce(noResponders()).mockRejectedValueOnce(noResponders()).mockResolvedValue('running');
      await expect(retry(db).call('h1', 'spawn', call)).resolves.toBe('running');
      expect(call).toHaveBeenCalledTimes(3);
    });

    it('passes the agent’s own error on at once', async () => {
      const { db } = fakeHosts({ state: 'up', started: 't1' });
      const call = jest.fn().mockRejectedValue(new ConflictError('cannot start server x while it is suspended'));
      await expect(retry(db).call('h1', 'start', call)).rejects.toBeInstanceOf(ConflictError);
      expect(call).toHaveBeenCalledTimes(1);
    });

    it.each(['down', 'fenced'])('gives up once the host is %s', async (state) => {
      const { host, db } = fakeHosts({ state: 'up', started: 't1' });
      const call = jest.fn(async () => {
        host.row = { state, started: 't1' };
        throw noResponders();
      });
      await expect(retry(db).call('h1', 'stop', call)).rejects.toBeInstanceOf(HostDownError);
      expect(call).toHaveBeenCalledTimes(1);
    });

    it('keeps asking a disabled host (only new placements stop there)', async () => {
      const { db } = fakeHosts({ state: 'disabled', started: 't1' });
      const call = jest.fn().mockRejectedValueOnce(noResponders()).mockResolvedValue('ok');
      await expect(retry(db).call('h1', 'stop', call)).resolves.toBe('ok');
    });

    it('abandons a call the restarted agent will never answer, and asks the new one', async () => {
      const { host, db } = fakeHosts({ state: 'up', started: 't1' });
      // The agent restarts once the first call is in flight (the retry has read t1 by then).
      const call = jest
        .fn()
        .mockImplementationOnce(() => {
          setTimeout(() => (host.row = { state: 'up', started: 't2' }), 30);
          return never();
        })
        .mockResolvedValue('running');
      await expect(retry(db).call('h1', 'spawn', call)).resolves.toBe('running');
      expect(call).toHaveBeenCalledTimes(2);
    });

    it('abandons a call in flight when the host goes down', async () => {
      const { host, db } = fakeHosts({ state: 'up', started: 't1' });
      const call = () => {
        setTimeout(() => (host.row = { state: 'down', started: 't1' }), 30);
        return never();
      };
      await expect(retry(db).call('h1', 'reboot', call)).rejects.toBeInstanceOf(HostDownError);
    });

    it('throws the last timeout when the host stays up but its agent never answers', async () => {
      const { db } = fakeHosts({ state: 'up', started: 't1' });
      const call = jest.fn().mockRejectedValue(noResponders());
      await expect(retry(db, 50).call('h1', 'stop', call)).rejects.toThrow(/nobody serves/);
      expect(call.mock.calls.length).toBeGreaterThan(1);
    });

    it('knows no unknown host', async () => {
      const { db } = fakeHosts(undefined);
      await expect(retry(db).call('h9', 'destroy', jest.fn())).rejects.toThrow(/host h9 is unknown/);
    });
  });
});

describe('retryDelayMs', () => {
  it.each([
    [0, 'no responders', noResponders(), 250],
    [1, 'no responders', noResponders(), 500],
    [3, 'no responders', noResponders(), 2_000],
    [10, 'no responders', noResponders(), 4_000],
    [0, 'an agent restart', new AgentRestartedError('h1'), 0],
    [1, 'an agent restart', new AgentRestartedError('h1'), 500],
  ])('attempt %i after %s waits', (attempt, _what, error, ms) => expect(retryDelayMs(attempt, error, DEFAULT_RETRY_POLICY)).toBe(ms));
});
