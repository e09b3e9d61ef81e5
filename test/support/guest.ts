/**
 * The test guest (deploy/guest-image) in e2e specs: the public image nubo-test that the e2e cloud
 * uploads, its serial console read through the API, and its console shell driven through the
 * instance's serial socket (what `virsh console` attaches to).
 */
import { OpenStackClient } from '@nubo/client';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { eventually, instanceDir } from './cloud';

export const GUEST_BOOTED = 'NUBO-GUEST: booted';
export const GUEST_READY = 'NUBO-GUEST: ready';

/** The id of the public image nubo-test (uploaded by `cloud.sh up` when NUBO_UPLOAD_TEST_IMAGE=1). */
export async function testImageId(api: OpenStackClient): Promise<string> {
  const { images } = await api.call('GET', '/image/v2/images?name=nubo-test', 200);
  if (images.length !== 1) throw new Error(`expected one image nubo-test, found ${images.length}`);
  return images[0].id;
}

/** The whole serial console log, as Nova's os-getConsoleOutput gives it. */
export async function consoleOutput(api: OpenStackClient, serverId: string): Promise<string> {
  return (await api.call('POST', `/compute/v2.1/servers/${serverId}/action`, 200, { 'os-getConsoleOutput': {} })).output;
}

/**
 * Waits until the console log has `count` occurrences of `text` (a reboot prints the boot markers
 * again, so callers count them) and returns the log.
 */
export function waitForConsole(api: OpenStackClient, serverId: string, text: string, count = 1, timeoutMs = 300_000): Promise<string> {
  return eventually(
    `${count} x "${text}" on the console of ${serverId}`,
    async () => {
      const log = await consoleOutput(api, serverId);
      return occurrences(log, text) >= count && log;
    },
    timeoutMs,
  );
}

export function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** Types one line into the guest's console shell through the instance's serial socket. */
export function typeOnSerial(hostId: string, serverId: string, line: string): Promise<void> {
  const path = join(instanceDir(hostId, serverId), 'serial.sock');
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      // QEMU's socket chardev takes one client; closing it hands the console back.
      socket.end(`${line}\n`, () => setTimeout(() => socket.destroy(), 200));
    });
    socket.once('close', () => resolve());
  });
}

/** The last `NUBO-MEMWRITER: counter N ...` line of a console log, or undefined. */
export function lastMemwriterCounter(log: string): { counter: number; ok: boolean } | undefined {
  const matches = [...log.matchAll(/NUBO-MEMWRITER: counter (\d+) checksum [0-9a-f]{16} (ok|MISMATCH)/g)];
  const last = matches.at(-1);
  return last ? { counter: Number(last[1]), ok: last[2] === 'ok' } : undefined;
}

let verdicts = 0;

/**
 * Runs a shell line on the guest's serial console and tells whether it succeeded. The verdict is
 * computed by the guest's shell (`$((40+2))`), so the echoed command line never matches it.
 */
export async function guestSucceeds(api: OpenStackClient, hostId: string, serverId: string, line: string, timeoutMs = 60_000): Promise<boolean> {
  const marker = `NV${++verdicts}`;
  await typeOnSerial(hostId, serverId, `${line} && echo ${marker}=$((40+2)) || echo ${marker}=$((6+7))`);
  const log = await eventually(`"${line}" on ${serverId}`, async () => {
    const out = await consoleOutput(api, serverId);
    return out.includes(`${marker}=42`) || out.includes(`${marker}=13`) ? out : undefined;
  }, timeoutMs);
  return log.includes(`${marker}=42`);
}

/** The IPv4 address the test guest took by DHCP (its "NUBO-GUEST: address a.b.c.d/n" line). */
export async function guestAddress(api: OpenStackClient, serverId: string): Promise<string> {
  const log = await waitForConsole(api, serverId, 'NUBO-GUEST: address');
  return /NUBO-GUEST: address (\d+\.\d+\.\d+\.\d+)\/\d+/.exec(log)![1];
}
