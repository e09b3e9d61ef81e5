import { parsePhysicalInterfaces } from './physical-interfaces';

describe(parsePhysicalInterfaces.name, () => {
  it.each([
    ['', {}],
    ['ext:extp', { ext: 'extp' }],
    [' physnet1:eth1 , physnet2:veth-ext ', { physnet1: 'eth1', physnet2: 'veth-ext' }],
  ])('maps %j', (raw, expected) => {
    const problems: string[] = [];
    expect(parsePhysicalInterfaces(raw, problems, 'VAR')).toEqual(expected);
    expect(problems).toEqual([]);
  });

  it.each([
    ['ext', 'VAR: "ext" is not <physical network>:<interface>'],
    ['ext:a:b', 'VAR: "ext:a:b" is not <physical network>:<interface>'],
    ['ext:an-interface-name-too-long', 'VAR: "ext:an-interface-name-too-long" is not <physical network>:<interface>'],
    ['ext:$(reboot)', 'VAR: "ext:$(reboot)" is not <physical network>:<interface>'],
    ['ext:a,ext:b', 'VAR: ext is mapped twice'],
  ])('refuses %j, naming the variable', (raw, problem) => {
    const problems: string[] = [];
    parsePhysicalInterfaces(raw, problems, 'VAR');
    expect(problems).toEqual([problem]);
  });
});
