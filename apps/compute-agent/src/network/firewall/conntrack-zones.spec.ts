import { bridgeZones, MAX_ZONE, zoneChainLines } from './conntrack-zones';

describe(bridgeZones.name, () => {
  const bridges = Array.from({ length: 500 }, (_, i) => `nb-${i.toString(16).padStart(12, '0')}`);

  it('gives every bridge its own zone in 1..65535', () => {
    const zones = bridgeZones(bridges);
    expect(new Set(zones.values()).size).toBe(bridges.length);
    expect([...zones.values()].every((zone) => zone >= 1 && zone <= MAX_ZONE)).toBe(true);
  });

  it('keeps the zone of a bridge whatever other bridges come and go (barring a collision)', () => {
    const all = bridgeZones(bridges);
    const some = bridgeZones(bridges.filter((_, i) => i % 3 === 0));
    const moved = [...some].filter(([bridge, zone]) => all.get(bridge) !== zone);
    expect(moved.length).toBeLessThanOrEqual(2);
    expect(bridgeZones(['nb-000000000001']).get('nb-000000000001')).toBe(all.get('nb-000000000001'));
  });

  it('probes past a taken zone', () => {
    const many = Array.from({ length: MAX_ZONE }, (_, i) => `b${i}`);
    const zones = bridgeZones(many);
    expect(new Set(zones.values()).size).toBe(MAX_ZONE);
  });
});

describe(zoneChainLines.name, () => {
  it('maps each bridge to its zone before conntrack, and is absent without bridges', () => {
    expect(zoneChainLines(new Map([['nb-a', 7], ['nb-b', 9]]))).toEqual([
      'type filter hook prerouting priority -300; policy accept;', 'ct zone set iifname map { "nb-a" : 7, "nb-b" : 9 }',
    ]);
    expect(zoneChainLines(new Map())).toBeUndefined();
  });
});
