/** Waits until N hosts report `up` (used by deploy/cloud.sh). Usage: hosts-up --wait N [--timeout S] */
import { OpenStackClient, credentialsFromEnv, sleep } from '../openstack-client';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const want = Number(args[args.indexOf('--wait') + 1] ?? 1);
  const timeoutS = args.includes('--timeout') ? Number(args[args.indexOf('--timeout') + 1]) : 60;
  const client = await new OpenStackClient(credentialsFromEnv()).login();
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const up = (await client.hosts()).filter((h) => h.state === 'up');
    if (up.length >= want) return;
    if (Date.now() > deadline) throw new Error(`${up.length} of ${want} hosts up after ${timeoutS} s`);
    await sleep(200);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`hosts-up: ${error.message}\n`);
  process.exit(1);
});
