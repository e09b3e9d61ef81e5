import { conversionStatus } from './image-conversion.service';

describe('conversionStatus', () => {
  it.each([
    ['waiting', 'queued'],
    ['delayed', 'queued'],
    ['prioritized', 'queued'],
    ['active', 'running'],
    ['completed', 'done'],
    ['failed', 'failed'],
    ['unknown', 'queued'],
  ])('reads the job state %s as %s', (state, status) => {
    expect(conversionStatus(state)).toBe(status);
  });
});
