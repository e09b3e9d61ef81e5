import { attemptsDetails, exceededMessage, exhaustedMessage } from './create-reschedule';

describe('reschedule faults', () => {
  const id = '6b1f3c52-8a43-4bb8-9d0f-3f3f3f3f3f3f';

  it("uses Nova's MaxRetriesExceeded words, without host names", () => {
    expect(exceededMessage(id, 3, 'disk full')).toBe(
      `Exceeded maximum number of retries. Exceeded max scheduling attempts 3 for instance ${id}. Last exception: disk full`,
    );
    expect(exhaustedMessage(id)).toBe(`Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance ${id}.`);
  });

  it.each([
    [[], undefined, ''],
    [[{ attempt: 1, hostId: 'h1', reason: 'boom' }], undefined, 'attempt 1 on h1: boom'],
    [
      [
        { attempt: 1, hostId: 'h1', reason: 'boom' },
        { attempt: 2, hostId: 'h2', reason: 'bang' },
      ],
      'No valid host was found.',
      'attempt 1 on h1: boom; attempt 2 on h2: bang; No valid host was found.',
    ],
  ])('details of %j', (failures, extra, expected) => {
    expect(attemptsDetails(failures, extra)).toBe(expected);
  });
});
