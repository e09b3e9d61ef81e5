import { Logger } from '@nestjs/common';
import { AgentJoiningError, CommandRefusal, LeaseRenewReply, LeaseRenewRequest, isRefusal } from '@nubo/contracts';
import { LeaseWatchdog } from './lease-watchdog';

/** A clock and timers the test moves by hand. */
function fakeTime() {
  let now = 1_000;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 0;
  return {
    clock: { now: () => now },
    timers: {
      set: (fn: () => void, ms: number) => (timers.set(++next, { at: now + ms, fn }), next),
      clear: (handle: unknown) => void timers.delete(handle as number),
    },
    /** Moves time on, firing due timers in order. */
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
    pending: () => timers.size,
  };
}

const granted = (epoch: number, leaseMs = 15_000, extra: Partial<LeaseRenewReply> = {}): LeaseRenewReply => ({ status: 'granted', epoch, leaseMs, ...extra }) as LeaseRenewReply;

function setup(o: { fenceTimeoutMs?: number } = {}) {
  const time = fakeTime();
  const requests: LeaseRenewRequest[] = [];
  let answer: (req: LeaseRenewRequest) => Promise<LeaseRenewReply> = async () => granted(1);
  const killVms = jest.fn(async () => 2);
  const reap = jest.fn(async (keep: ReadonlySet<string>) => ['a', 'b', 'c'].filter((id) => !keep.has(id)));
  const watchdog = new LeaseWatchdog({
    hostId: 'h1',
    agentStartedAt: '2026-01-01T00:00:00.000Z',
    fenceTimeoutMs: o.fenceTimeoutMs ?? 13_000,
    renew: (req) => (requests.push(req), answer(req)),
    killVms,
    reap,
    clock: time.clock,
    timers: time.timers,
    logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return { watchdog, time, requests, killVms, reap, answer: (fn: typeof answer) => (answer = fn) };
}

const refusal = (fn: () => void): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe(LeaseWatchdog.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  describe('joining', () => {
    it('refuses commands as "not joined yet" (a timeout, so callers ask again) until the first grant', async () => {
      const { watchdog, requests } = setup();
      expect(refusal(() => watchdog.assertAllowed({}, 'status'))).toBeInstanceOf(AgentJoiningError);
      await watchdog.renew();
      expect(requests[0]).toEqual({ hostId: 'h1', agentStartedAt: '2026-01-01T00:00:00.000Z' });
      expect(watchdog.view()).toMatchObject({ state: 'held', epoch: 1 });
      expect(refusal(() => watchdog.assertAllowed({ epoch: 1 }, 'status'))).toBeUndefined();
    });

    it('renews with the epoch it holds', async () => {
      const { watchdog, requests } = setup();
      await watchdog.renew();
      await watchdog.renew();
      expect(requests[1]).toMatchObject({ epoch: 1 });
    });
  });

  describe('lease timing (fake monotonic clock)', () => {
    it('fences exactly when the fence timeout has passed since the granted renewal was SENT, not answered', async () => {
      const { watchdog, time, answer, killVms } = setup();
      // The reply takes 3 s: the lease still counts from the send.
      answer(() => new Promise((resolve) => setTimeout(() => resolve(granted(1)), 0)).then((r) => (time.advance(3_000), r as LeaseRenewReply)));
      await watchdog.renew();
      time.advance(13_000 - 3_000);
      expect(watchdog.view().state).toBe('held');
      time.advance(1);
      expect(watchdog.view()).toMatchObject({ state: 'fenced' });
      expect(killVms).toHaveBeenCalledTimes(1);
    });

    it('fences on its timer alone, with no renewal or command to trigger it', async () => {
      const { watchdog, time, killVms } = setup();
      await watchdog.renew();
      time.advance(13_001);
      expect(killVms).toHaveBeenCalledTimes(1);
      expect((watchdog as unknown as { state: string }).state).toBe('fenced');
    });

    it('uses the lease the control plane grants minus the 2 s margin when that is shorter than its own timeout', async () => {
      const { watchdog, time, answer } = setup({ fenceTimeoutMs: 30_000 });
      answer(async () => granted(1, 8_000));
      await watchdog.renew();
      time.advance(6_000);
      expect(watchdog.view().state).toBe('held');
      time.advance(1);
      expect(watchdog.view().state).toBe('fenced');
    });

    it('keeps the lease while renewals succeed, and fences once they fail for the timeout', async () => {
      const { watchdog, time, answer, killVms } = setup();
      await watchdog.renew();
      for (let i = 0; i < 20; i++) {
        time.advance(1_000);
        await watchdog.renew();
      }
      expect(watchdog.view().state).toBe('held');
      answer(async () => Promise.reject(new Error('no responders')));
      for (let i = 0; i < 12; i++) {
        time.advance(1_000);
        await watchdog.renew();
      }
      expect(watchdog.view().state).toBe('held');
      time.advance(1_001);
      await watchdog.renew();
      expect(watchdog.view().state).toBe('fenced');
      expect(killVms).toHaveBeenCalled();
    });

    it('a grant for a renewal sent before a freeze extends nothing when it arrives after the lease ended', async () => {
      const { watchdog, time, answer, killVms } = setup();
      await watchdog.renew();
      // Sent at 1 s; the process is frozen for 20 s before the reply is read.
      time.advance(1_000);
      answer(async () => (time.advance(20_000), granted(1)));
      await watchdog.renew();
      expect(watchdog.view().state).toBe('fenced');
      expect(killVms).toHaveBeenCalledTimes(1);
    });

    it('a frozen process fences itself before acting on a command buffered during the freeze', async () => {
      const { watchdog, time, killVms } = setup();
      await watchdog.renew();
      time.advance(17_000); // SIGSTOP for 17 s; on SIGCONT the command is read first
      const error = refusal(() => watchdog.assertAllowed({ epoch: 1 }, 'spawn'));
      expect(isRefusal(error, CommandRefusal.Fenced)).toBe(true);
      expect(killVms).toHaveBeenCalledTimes(1);
    });
  });

  describe('fenced', () => {
    async function fenced() {
      const s = setup();
      await s.watchdog.renew();
      s.time.advance(14_000);
      s.watchdog.check();
      return s;
    }

    it('refuses every command, whatever its epoch', async () => {
      const { watchdog } = await fenced();
      for (const command of [{}, { epoch: 1 }, { epoch: 2 }]) {
        expect(isRefusal(refusal(() => watchdog.assertAllowed(command, 'status')), CommandRefusal.Fenced)).toBe(true);
      }
    });

    it('asks to join with the epoch it lost, why, and how many QEMUs it killed', async () => {
      const { watchdog, requests, answer } = await fenced();
      answer(async () => ({ status: 'refused', reason: 'fenced', assignedServerIds: ['a'] }));
      await watchdog.renew();
      expect(requests.at(-1)).toEqual({
        hostId: 'h1',
        agentStartedAt: '2026-01-01T00:00:00.000Z',
        fencedEpoch: 1,
        // The timer fired at the lease's end, 1 ms past it.
        fencedReason: 'no lease renewal for 13001 ms (it allows 13000 ms); killed 2 QEMU(s)',
      });
    });

    it('reports the lost epoch until the control plane has answered, then joins plainly (an admin enable must stand)', async () => {
      const { watchdog, requests, answer } = await fenced();
      answer(async () => Promise.reject(new Error('timeout')));
      await watchdog.renew();
      expect(requests.at(-1)).toMatchObject({ fencedEpoch: 1 });
      answer(async () => ({ status: 'refused', reason: 'fenced', assignedServerIds: [] }));
      await watchdog.renew();
      await watchdog.renew();
      expect(requests.at(-1)).toEqual({ hostId: 'h1', agentStartedAt: '2026-01-01T00:00:00.000Z' });
    });

    it('while refused: stays fenced, kills again at each renewal, removes the instances not assigned to it, starts nothing', async () => {
      const { watchdog, answer, killVms, reap } = await fenced();
      answer(async () => ({ status: 'refused', reason: 'fenced', assignedServerIds: ['a'] }));
      // The first renewal waits for the fence's own kill pass; each later one runs another.
      await watchdog.renew();
      expect(killVms).toHaveBeenCalledTimes(1);
      await watchdog.renew();
      await watchdog.renew();
      await new Promise((r) => setImmediate(r));
      expect(watchdog.view().state).toBe('fenced');
      expect(killVms).toHaveBeenCalledTimes(3);
      expect(reap).toHaveBeenCalledWith(new Set(['a']));
      expect(await reap.mock.results[0].value).toEqual(['b', 'c']);
    });

    it('rejoins with the new epoch once granted, reaping what is no longer its own, and refuses the old epoch', async () => {
      const { watchdog, answer, reap } = await fenced();
      answer(async () => granted(2, 15_000, { assignedServerIds: ['b'] }));
      await watchdog.renew();
      await new Promise((r) => setImmediate(r));
      expect(watchdog.view()).toMatchObject({ state: 'held', epoch: 2 });
      expect(reap).toHaveBeenCalledWith(new Set(['b']));
      expect(isRefusal(refusal(() => watchdog.assertAllowed({ epoch: 1 }, 'start')), CommandRefusal.StaleEpoch)).toBe(true);
      expect(refusal(() => watchdog.assertAllowed({ epoch: 2 }, 'start'))).toBeUndefined();
    });

    it('holds heartbeats back from the fence until the control plane has answered its join', async () => {
      const { watchdog, answer, time } = setup();
      expect(watchdog.mayReport()).toBe(false);
      await watchdog.renew();
      expect(watchdog.mayReport()).toBe(true);
      time.advance(13_001);
      expect(watchdog.mayReport()).toBe(false);
      answer(async () => Promise.reject(new Error('timeout')));
      await watchdog.renew();
      expect(watchdog.mayReport()).toBe(false);
      answer(async () => ({ status: 'refused', reason: 'fenced', assignedServerIds: [] }));
      await watchdog.renew();
      expect(watchdog.mayReport()).toBe(true);
    });

    it('a stale answer to a renewal fences at once', async () => {
      const { watchdog, answer, killVms } = setup();
      await watchdog.renew();
      answer(async () => ({ status: 'stale', reason: 'epoch 1 was fenced' }));
      await watchdog.renew();
      expect(watchdog.view()).toMatchObject({ state: 'fenced', reason: expect.stringContaining('epoch 1 was fenced') });
      expect(killVms).toHaveBeenCalledTimes(1);
    });

    it('an agent that starts on a fenced host is refused, kills what it adopted and never holds a lease', async () => {
      const { watchdog, answer, killVms } = setup();
      answer(async () => ({ status: 'refused', reason: 'fenced', assignedServerIds: [] }));
      await watchdog.renew();
      expect(watchdog.view().state).toBe('fenced');
      expect(killVms).toHaveBeenCalledTimes(1);
    });
  });

  describe('assertMayBoot', () => {
    it('asks whether the server is on the host only for a start/resume without the current epoch', async () => {
      const { watchdog } = setup();
      await watchdog.renew();
      const known = jest.fn(async () => false);
      await expect(watchdog.assertMayBoot({ epoch: 1 }, 'start', 's1', known)).resolves.toBeUndefined();
      await expect(watchdog.assertMayBoot({}, 'stop', 's1', known)).resolves.toBeUndefined();
      expect(known).not.toHaveBeenCalled();
      await expect(watchdog.assertMayBoot({}, 'start', 's1', known)).rejects.toMatchObject({ details: { refusal: CommandRefusal.NotOnHost } });
      await expect(watchdog.assertMayBoot({}, 'resume', 's1', async () => true)).resolves.toBeUndefined();
    });
  });
});
