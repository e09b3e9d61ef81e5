import { KeyedMutex } from './keyed-mutex';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(KeyedMutex.name, () => {
  describe('run', () => {
    it('runs tasks of one key one at a time, in arrival order', async () => {
      const mutex = new KeyedMutex();
      const log: string[] = [];
      const task = (name: string, ms: number) => async () => {
        log.push(`${name}:start`);
        await tick(ms);
        log.push(`${name}:end`);
        return name;
      };
      const results = await Promise.all([mutex.run('a', task('1', 30)), mutex.run('a', task('2', 1)), mutex.run('a', task('3', 10))]);
      expect(results).toEqual(['1', '2', '3']);
      expect(log).toEqual(['1:start', '1:end', '2:start', '2:end', '3:start', '3:end']);
      expect(mutex.size).toBe(0);
    });

    it('runs tasks of different keys concurrently', async () => {
      const mutex = new KeyedMutex();
      const log: string[] = [];
      await Promise.all([
        mutex.run('a', async () => {
          log.push('a:start');
          await tick(20);
          log.push('a:end');
        }),
        mutex.run('b', async () => {
          log.push('b:start');
          await tick(1);
          log.push('b:end');
        }),
      ]);
      expect(log).toEqual(['a:start', 'b:start', 'b:end', 'a:end']);
    });

    it('keeps going after a failed task', async () => {
      const mutex = new KeyedMutex();
      const failed = mutex.run('a', async () => {
        throw new Error('boom');
      });
      const next = mutex.run('a', async () => 'ok');
      await expect(failed).rejects.toThrow('boom');
      await expect(next).resolves.toBe('ok');
      expect(mutex.size).toBe(0);
    });
  });
});
