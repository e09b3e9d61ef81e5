import { CommandRefusal, CommandRefusedError, ConflictError, fromWire } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { HostEpochs } from './host-epochs';

/** HostEpochs over a fake lease table whose epoch the test moves. */
function epochs(start: number | undefined) {
  const table = { epoch: start };
  const db = { query: jest.fn(async () => (table.epoch === undefined ? [] : [{ epoch: String(table.epoch) }])) };
  return { table, db, epochs: new HostEpochs(db as unknown as DataSource) };
}

/** An agent refusal as the caller rebuilds it from the wire. */
const stale = () => fromWire(new CommandRefusedError(CommandRefusal.StaleEpoch, 'stale', { agentEpoch: 5 }).toWire());

describe(HostEpochs.name, () => {
  describe('send', () => {
    it('stamps the host current epoch on the command', async () => {
      const { epochs: e } = epochs(4);
      const build = jest.fn(async (epoch: { epoch?: number }) => epoch);
      await expect(e.send('h1', build)).resolves.toEqual({ epoch: 4 });
    });

    it('sends no epoch for a host that never joined', async () => {
      const { epochs: e } = epochs(undefined);
      await expect(e.send('h1', async (epoch) => epoch)).resolves.toEqual({});
    });

    it('sends once more with the new epoch when the agent rejoined between the read and the send', async () => {
      const { epochs: e, table } = epochs(4);
      const sent: Array<number | undefined> = [];
      const build = async (epoch: { epoch?: number }) => {
        sent.push(epoch.epoch);
        if (epoch.epoch === 4) {
          table.epoch = 5;
          throw stale();
        }
        return 'done';
      };
      await expect(e.send('h1', build)).resolves.toBe('done');
      expect(sent).toEqual([4, 5]);
    });

    it('gives the refusal back when the epoch did not move (the host is fenced: nothing to retry)', async () => {
      const { epochs: e } = epochs(4);
      const build = jest.fn(async () => Promise.reject(stale()));
      await expect(e.send('h1', build)).rejects.toMatchObject({ details: { refusal: CommandRefusal.StaleEpoch } });
      expect(build).toHaveBeenCalledTimes(1);
    });

    it('gives other errors back at once', async () => {
      const { epochs: e, table } = epochs(4);
      const build = jest.fn(async () => {
        table.epoch = 5;
        throw new ConflictError('Cannot stop a suspended server');
      });
      await expect(e.send('h1', build)).rejects.toThrow('Cannot stop a suspended server');
      expect(build).toHaveBeenCalledTimes(1);
    });
  });
});
