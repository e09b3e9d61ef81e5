import { Logger } from '@nestjs/common';
import { AgentConfig } from '../config';
import { FakeDriver } from '../hypervisor/fake/fake.driver';
import { AgentRuntime } from './agent-runtime';

describe(AgentRuntime.name, () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  describe('sweepImages', () => {
    function runtimeWith(driver: FakeDriver): AgentRuntime {
      const config = { NUBO_AGENT_IMAGE_TTL_S: 3600, NUBO_AGENT_IMAGE_SWEEP_S: 600 } as AgentConfig;
      return new AgentRuntime(config, driver, {} as never, {} as never, {} as never, {} as never);
    }

    it('asks the driver to evict with the configured TTL, one sweep at a time', async () => {
      const driver = new FakeDriver();
      let release!: () => void;
      const evict = jest
        .spyOn(driver, 'evictUnusedImages')
        .mockImplementationOnce(() => new Promise((resolve) => (release = () => resolve([]))))
        .mockResolvedValue(['a'.repeat(64)]);
      const runtime = runtimeWith(driver);
      const first = runtime.sweepImages();
      const second = runtime.sweepImages();
      expect(second).toBe(first);
      release();
      await first;
      expect(evict).toHaveBeenCalledTimes(1);
      expect(evict).toHaveBeenCalledWith({ ttlMs: 3_600_000 });
      await runtime.sweepImages();
      expect(evict).toHaveBeenCalledTimes(2);
    });

    it('survives a failed sweep', async () => {
      const driver = new FakeDriver();
      jest.spyOn(driver, 'evictUnusedImages').mockRejectedValue(new Error('disk gone'));
      await expect(runtimeWith(driver).sweepImages()).resolves.toBeUndefined();
    });
  });
});
