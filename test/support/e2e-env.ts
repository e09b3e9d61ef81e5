/** Where the e2e cloud lives; shared by the global setup, teardown and the specs. */
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const E2E = {
  NUBO_STATE_DIR: process.env.NUBO_STATE_DIR ?? '/tmp/nubo-test',
  NUBO_CLOUD_NAME: 'nubo-e2e',
  NUBO_HOSTS: '3',
  NUBO_API_PORT: '18080',
  NUBO_HEALTH_PORT_BASE: '18780',
  NUBO_LOG_LEVEL: 'debug',
  // Firmware-only test guests ignore ACPI: do not wait a minute before forcing them off.
  NUBO_STOP_GRACE_S: '2',
  // The test guest as public image nubo-test (see test/support/guest.ts).
  NUBO_UPLOAD_TEST_IMAGE: '1',
};
export const cloudScript = join(ROOT, 'deploy/cloud.sh');
export const openrcPath = join(E2E.NUBO_STATE_DIR, 'openrc');
