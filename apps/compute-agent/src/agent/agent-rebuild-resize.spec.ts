import { Logger } from '@nestjs/common';
import { PowerState, ValidationError } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { FakeDriver } from '../hypervisor/fake/fake.driver';
import { AgentService } from './agent.service';

const id = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };
const ctx: HandlerContext = { requestId: 'req-test', subject: 'agent.h1.x' };
const later = () => Date.now() + 60_000;

describe(`${AgentService.name} rebuild and resize`, () => {
  let driver: FakeDriver;
  let service: AgentService;

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(async () => {
    driver = new FakeDriver({ delayMs: 20 });
    service = new AgentService({ hostId: 'h1', driver });
    await service.spawn({ opId: 'spawn', deadline: later(), spec }, ctx);
    driver.calls.length = 0;
  });

  it.each([
    ['rebuild', () => service.rebuild({ opId: 'op', deadline: Date.now() - 1, serverId: id, spec, powerOn: true, graceSeconds: 0 }, ctx)],
    ['resize', () => service.resize({ opId: 'op', deadline: Date.now() - 1, serverId: id, spec, powerOn: true, graceSeconds: 0 }, ctx)],
    ['confirmResize', () => service.confirmResize({ opId: 'op', deadline: Date.now() - 1, serverId: id }, ctx)],
    ['revertResize', () => service.revertResize({ opId: 'op', deadline: Date.now() - 1, serverId: id, powerOn: true, graceSeconds: 0 }, ctx)],
  ])('refuses a stale %s and leaves the driver alone', async (_op, call) => {
    await expect(call()).rejects.toMatchObject({ message: 'stale command: deadline passed' });
    expect(driver.calls).toEqual([]);
  });

  it('uses the operation id as the rebuild id: a replay makes no second disk', async () => {
    const request = { opId: 'server.rebuild-x-req-1', deadline: later(), serverId: id, spec, powerOn: true, graceSeconds: 0 };
    await service.rebuild(request, ctx);
    await service.rebuild(request, ctx);
    expect(driver.rebuildResize.guest(id)?.diskGeneration).toBe(1);
  });

  it('refuses a spec for another server than the request names', async () => {
    const other = { ...spec, serverId: '00000000-0000-4000-8000-000000000000' };
    await expect(service.resize({ opId: 'op', deadline: later(), serverId: id, spec: other, powerOn: true, graceSeconds: 0 }, ctx)).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it("runs one server's resize, confirm and a stop one at a time, in arrival order", async () => {
    const bigger = { ...spec, vcpus: 2 };
    const done = await Promise.all([
      service.resize({ opId: 'r', deadline: later(), serverId: id, spec: bigger, powerOn: true, graceSeconds: 0 }, ctx),
      service.confirmResize({ opId: 'c', deadline: later(), serverId: id }, ctx),
      service.stop({ opId: 's', deadline: later(), serverId: id, graceSeconds: 0 }, ctx),
    ]);
    expect(done.map((s) => s.powerState)).toEqual([PowerState.Running, PowerState.Running, PowerState.Shutdown]);
    expect(driver.calls).toEqual([
      `resize:${id}:start`, `resize:${id}:end`, `confirmResize:${id}:start`, `confirmResize:${id}:end`, `stop:${id}:start`, `stop:${id}:end`,
    ]);
  });
});
