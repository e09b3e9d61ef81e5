// Every e2e spec shares one cloud, so a server one spec leaves behind breaks the next (a host that
// holds instances cannot change availability zone, placement sees less room). After each spec file
// the servers it created must be gone; leftovers are deleted and the spec that left them fails.
import { adminClient, eventually, withDb } from './cloud';

interface Row { id: string; name: string; vm_state: string; host_id: string | null }

const live = () => withDb(async (db) => (await db.query<Row>('SELECT id, name, vm_state, host_id FROM compute.servers WHERE deleted_at IS NULL')).rows);
const describeServer = (s: Row) => `${s.id} ${s.name} ${s.vm_state} on ${s.host_id}`;
let before = new Set<string>();

beforeAll(async () => {
  const found = await live();
  before = new Set(found.map((s) => s.id));
  // Left by a spec that ran before the guard existed, or by a crashed run: say so at once.
  if (found.length) process.stderr.write(`e2e: ${found.length} server(s) present before ${expect.getState().testPath}: ${found.map(describeServer).join('; ')}\n`);
});

afterAll(async () => {
  const leaked = async () => (await live()).filter((s) => !before.has(s.id));
  // A spec's cleanup may have asked for deletion without waiting for it.
  const settled = await eventually('servers deleted', async () => (await leaked()).length === 0, 60_000).catch(() => false);
  if (settled) return;
  const left = await leaked();
  const admin = await adminClient();
  for (const s of left) await admin.request('DELETE', `/compute/v2.1/servers/${s.id}`);
  await eventually('leaked servers deleted', async () => (await leaked()).length === 0, 120_000).catch(() => undefined);
  throw new Error(`spec left ${left.length} server(s) behind: ${left.map(describeServer).join('; ')}`);
}, 240_000);
