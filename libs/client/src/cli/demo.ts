/**
 * The all-in-one cloud's demo: log in with the openrc credentials, create a server (or find the
 * one an earlier run made), wait for ACTIVE, then show its host and QEMU's live QMP status.
 */
import { OpenStackClient, credentialsFromEnv } from '../openstack-client';

const NAME = 'nubo-demo';

async function main(): Promise<void> {
  const client = await new OpenStackClient(credentialsFromEnv()).login();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`logged in as ${process.env.OS_USERNAME} (project ${process.env.OS_PROJECT_NAME}); token from ${process.env.OS_AUTH_URL}`);

  const hosts = await client.hosts();
  for (const h of hosts) {
    say(`host ${h.id}: ${h.state}, ${h.accelerator}, RAM free ${h.free.ram_mb}/${h.inventory.ram_mb} MB, underlay ${h.underlay_ip ?? '-'}`);
  }

  const [image] = (await client.call('GET', '/image/v2/images?name=nubo-test', 200)).images;
  if (image) say(`image nubo-test (the bootable test guest): ${image.id}, ${image.status}, ${image.disk_format}, ${image.size} bytes`);

  const list = await client.call('GET', '/compute/v2.1/servers', 200);
  let id: string | undefined = list.servers.find((s: any) => s.name === NAME)?.id;
  const started = Date.now();
  if (id) say(`server ${NAME} exists already: ${id}`);
  else {
    id = await client.createServer({ name: NAME, flavorRef: '42' });
    say(`POST /compute/v2.1/servers -> 202, server ${id} (flavor m1.nano)`);
  }
  const server = await client.waitForStatus(id, 'ACTIVE');
  say(`server ${NAME} is ${server.status} on host ${server['OS-EXT-SRV-ATTR:host']} (${Date.now() - started} ms)`);
  const live = await client.liveStatus(id);
  say(`live from the host over QMP: query-status = ${live.qmp_status}, power state ${live.power_state}, QEMU pid ${live.pid}`);
}

main().catch((error: Error) => {
  process.stderr.write(`demo: ${error.message}\n`);
  process.exit(1);
});
