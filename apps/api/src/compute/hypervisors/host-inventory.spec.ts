import { serviceStatus } from './host-inventory';

const now = new Date('2024-11-25T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000);

describe('serviceStatus', () => {
  it.each([
    ['up', 1, null, { state: 'up', status: 'enabled', disabledReason: null }],
    ['down', 300, null, { state: 'down', status: 'enabled', disabledReason: null }],
    ['disabled', 1, 'patching', { state: 'up', status: 'disabled', disabledReason: 'patching' }],
    ['disabled', 300, null, { state: 'down', status: 'disabled', disabledReason: null }],
    ['maintenance', 1, null, { state: 'up', status: 'disabled', disabledReason: 'maintenance' }],
    ['fenced', 1, null, { state: 'down', status: 'disabled', disabledReason: 'fenced' }],
  ])('host %s, heartbeat %is ago, reason %s', (state, secondsAgo, reason, expected) => {
    expect(serviceStatus({ state, lastHeartbeatAt: ago(secondsAgo), disabledReason: reason }, now)).toEqual(expected);
  });
});
