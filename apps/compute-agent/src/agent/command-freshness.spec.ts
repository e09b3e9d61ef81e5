import { AgentJoiningError, CommandRefusal, ValidationError, isRefusal } from '@nubo/contracts';
import { LeaseView, assignmentRefusal, leaseRefusal } from './command-freshness';

const held: LeaseView = { hostId: 'h1', state: 'held', epoch: 7 };
const joining: LeaseView = { hostId: 'h1', state: 'joining' };
const fenced: LeaseView = { hostId: 'h1', state: 'fenced', reason: 'no lease renewal for 14000 ms' };

type Outcome = 'accept' | 'joining' | CommandRefusal | 'invalid';

function outcome(error: unknown): Outcome {
  if (error === undefined) return 'accept';
  if (error instanceof AgentJoiningError) return 'joining';
  if (error instanceof ValidationError) return 'invalid';
  for (const r of Object.values(CommandRefusal)) if (isRefusal(error, r)) return r;
  throw new Error(`unexpected ${String(error)}`);
}

describe('leaseRefusal', () => {
  const cases: Array<[string, LeaseView, { epoch?: number } | undefined, Outcome]> = [
    ['joining, no epoch', joining, {}, 'joining'],
    ['joining, an epoch', joining, { epoch: 7 }, 'joining'],
    ['fenced, no epoch', fenced, {}, CommandRefusal.Fenced],
    ['fenced, the epoch it had', fenced, { epoch: 7 }, CommandRefusal.Fenced],
    ['held, no epoch (api reads, network sync)', held, {}, 'accept'],
    ['held, no command body', held, undefined, 'accept'],
    ['held, its epoch', held, { epoch: 7 }, 'accept'],
    ['held, an older epoch (a command from before a fence)', held, { epoch: 6 }, CommandRefusal.StaleEpoch],
    ['held, a newer epoch', held, { epoch: 8 }, CommandRefusal.StaleEpoch],
    ['held, epoch 0', held, { epoch: 0 }, 'invalid'],
    ['held, a fractional epoch', held, { epoch: 7.5 }, 'invalid'],
    ['held, an epoch as text', held, { epoch: '7' as unknown as number }, 'invalid'],
  ];
  it.each(cases)('%s', (_name, lease, command, expected) => {
    expect(outcome(leaseRefusal(lease, command, 'stop'))).toBe(expected);
  });

  it('says which epochs differ', () => {
    expect(leaseRefusal(held, { epoch: 6 }, 'spawn')).toMatchObject({
      message: 'spawn refused: epoch 6 is not the current epoch of h1 (7)',
      details: { refusal: CommandRefusal.StaleEpoch, epoch: 6, agentEpoch: 7 },
    });
  });

  it('says why a fenced agent refuses', () => {
    expect(leaseRefusal(fenced, {}, 'status')?.message).toContain('fenced (no lease renewal for 14000 ms)');
  });
});

describe('assignmentRefusal', () => {
  const cases: Array<[string, string, { epoch?: number }, boolean, Outcome]> = [
    ['start of a server with files here, no epoch', 'start', {}, true, 'accept'],
    ['start of a server with no files here, no epoch', 'start', {}, false, CommandRefusal.NotOnHost],
    ['resume of a server with no files here, no epoch', 'resume', {}, false, CommandRefusal.NotOnHost],
    ['start of a server with no files here, with the epoch (a scheduler placed it)', 'start', { epoch: 7 }, false, 'accept'],
    ['spawn (a create) of an unknown server, no epoch', 'spawn', {}, false, 'accept'],
    ['stop of an unknown server (the driver answers NotFound)', 'stop', {}, false, 'accept'],
    ['destroy of an unknown server (idempotent)', 'destroy', {}, false, 'accept'],
  ];
  it.each(cases)('%s', (_name, op, command, known, expected) => {
    expect(outcome(assignmentRefusal(held, command, op, 's1', known))).toBe(expected);
  });
});
