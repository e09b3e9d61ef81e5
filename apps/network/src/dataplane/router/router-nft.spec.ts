import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderRouterNft } from './router-nft';
import { RouterSpec, validateRouter } from './router-spec';
import { SECOND_PORT, routerSpec } from './router-test-fixtures';

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff). */
function expectGolden(text: string, name: string): void {
  const file = join(__dirname, '__golden__', `${name}.nft`);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

function render(spec: RouterSpec): string {
  const result = validateRouter(spec, { namespacePrefix: 'qrouter-' });
  if (!result.ok) throw new Error(result.message);
  return renderRouterNft(result.plan);
}

const twoFloating = [{ floatingIp: '203.0.113.21', fixedIp: '10.81.0.7' }, { floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }];
const twoSubnets = [...routerSpec().interfaces, { portId: SECOND_PORT, mac: 'fa:16:3e:00:00:02', bridge: 'nb-net2', cidrs: ['10.81.0.1/24'] }];

describe(renderRouterNft.name, () => {
  it.each<[string, RouterSpec]>([
    ['snat-on', routerSpec()],
    ['snat-off', routerSpec({ gateway: { ...routerSpec().gateway!, enableSnat: false } })],
    ['two-floating-ips', routerSpec({ interfaces: twoSubnets, floatingIps: twoFloating })],
    ['two-floating-ips-snat-off', routerSpec({ interfaces: twoSubnets, floatingIps: twoFloating, gateway: { ...routerSpec().gateway!, enableSnat: false } })],
    ['no-gateway', routerSpec({ gateway: null })],
  ])('renders %s as its golden file', (name, spec) => expectGolden(render(spec), name));

  it('never lets a tenant value through unparsed', () => {
    const hostile = routerSpec({ floatingIps: [{ floatingIp: '203.0.113.20 } ; flush ruleset ; {', fixedIp: '10.80.0.5' }] });
    expect(() => render(hostile)).toThrow(/floatingIps\[0\]\.floatingIp/);
  });

  it('renders the same text whatever the order of floating IPs', () => {
    expect(render(routerSpec({ interfaces: twoSubnets, floatingIps: [...twoFloating].reverse() }))).toBe(render(routerSpec({ interfaces: twoSubnets, floatingIps: twoFloating })));
  });
});
