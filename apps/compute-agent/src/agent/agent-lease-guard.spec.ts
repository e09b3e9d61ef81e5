/** AgentService with a real LeaseWatchdog (fake clock) in front of the fake driver: where commands are checked. */
import { Logger } from '@nestjs/common';
import { AgentJoiningError, CommandRefusal, LeaseRenewReply, PowerState } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { FakeDriver } from '../hypervisor/fake/fake.driver';
import { AgentService } from './agent.service';
import { LeaseWatchdog } from './lease-watchdog';

const id = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const spec = { serverId: id, vcpus: 1, ramMb: 64, diskGb: 0 };
const ctx: HandlerContext = { requestId: 'req-test', subject: 'agent.h1.x' };
const later = () => Date.now() + 60_000;

describe('AgentService with a lease', () => {
  let now: number;
  let reply: LeaseRenewReply;
  let driver: FakeDriver;
  let lease: LeaseWatchdog;
  let service: AgentService;

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => {
    now = 0;
    reply = { status: 'granted', epoch: 3, leaseMs: 15_000 };
    driver = new FakeDriver();
    lease = new LeaseWatchdog({
      hostId: 'h1',
      agentStartedAt: '2026-01-01T00:00:00.000Z',
      fenceTimeoutMs: 13_000,
      renew: async () => reply,
      killVms: async () => 0,
      reap: async () => [],
      clock: { now: () => now },
      timers: { set: () => undefined, clear: () => undefined },
    });
    service = new AgentService({ hostId: 'h1', driver, guard: lease });
  });

  it('answers "not joined yet" before the first grant, and acts once joined', async () => {
    await expect(service.spawn({ opId: 'op1', deadline: later(), epoch: 3, spec }, ctx)).rejects.toBeInstanceOf(AgentJoiningError);
    await lease.renew();
    await expect(service.spawn({ opId: 'op1', deadline: later(), epoch: 3, spec }, ctx)).resolves.toMatchObject({ powerState: PowerState.Running });
  });

  it('refuses a command of another epoch and does nothing', async () => {
    await lease.renew();
    await expect(service.spawn({ opId: 'op1', deadline: later(), epoch: 2, spec }, ctx)).rejects.toMatchObject({ details: { refusal: CommandRefusal.StaleEpoch } });
    expect(await driver.list()).toEqual([]);
  });

  it('accepts commands without an epoch while the lease is held (callers without the database)', async () => {
    await lease.renew();
    await service.spawn({ opId: 'op1', deadline: later(), epoch: 3, spec }, ctx);
    await expect(service.status({ opId: 'op2', deadline: later(), serverId: id }, ctx)).resolves.toMatchObject({ powerState: PowerState.Running });
  });

  it('refuses every command once the lease has run out, reads and destroys included', async () => {
    await lease.renew();
    await service.spawn({ opId: 'op1', deadline: later(), epoch: 3, spec }, ctx);
    now = 13_001;
    for (const call of [
      () => service.status({ opId: 'op2', deadline: later(), epoch: 3, serverId: id }, ctx),
      () => service.destroy({ opId: 'op3', deadline: later(), epoch: 3, serverId: id }, ctx),
      () => service.list({ opId: 'op4', deadline: later() }, ctx),
    ]) {
      await expect(call()).rejects.toMatchObject({ details: { refusal: CommandRefusal.Fenced } });
    }
    expect((await driver.list()).map((i) => i.serverId)).toEqual([id]);
  });

  it('refuses to boot from nothing a server it has no files for unless the command carries the epoch', async () => {
    await lease.renew();
    await expect(service.start({ opId: 'op1', deadline: later(), serverId: id, spec }, ctx)).rejects.toMatchObject({
      details: { refusal: CommandRefusal.NotOnHost, serverId: id },
    });
    expect(await driver.list()).toEqual([]);
    await expect(service.start({ opId: 'op1', deadline: later(), epoch: 3, serverId: id, spec }, ctx)).resolves.toMatchObject({ powerState: PowerState.Running });
  });

  it('starts a server it has files for without an epoch', async () => {
    await lease.renew();
    await service.spawn({ opId: 'op1', deadline: later(), epoch: 3, spec }, ctx);
    await service.stop({ opId: 'op2', deadline: later(), serverId: id, graceSeconds: 0 }, ctx);
    await expect(service.start({ opId: 'op3', deadline: later(), serverId: id, spec }, ctx)).resolves.toMatchObject({ powerState: PowerState.Running });
  });
});
