import { InstanceExit } from '@nubo/contracts';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExitEvidence,
  causeOfShutdown,
  classifyExit,
  clearLastExit,
  describeExit,
  foundDeadExit,
  hostStopExit,
  lastExitPath,
  readLastExit,
  writeLastExit,
} from './qemu-exit';

const at = new Date('2026-02-03T04:05:06.789Z');

describe('classifyExit', () => {
  it.each<[string, ExitEvidence, InstanceExit['cause'], string]>([
    ['a guest power-off', { shutdownReason: 'guest-shutdown', status: { code: 0, signal: null } }, 'guest-shutdown', 'SHUTDOWN guest-shutdown'],
    ['a panic seen as GUEST_PANICKED', { panicked: true, shutdownReason: 'guest-panic' }, 'guest-panic', 'GUEST_PANICKED'],
    ['a panic seen only in SHUTDOWN', { shutdownReason: 'guest-panic' }, 'guest-panic', 'SHUTDOWN guest-panic'],
    ['a panic with QEMU left running (panic=pause)', { panicked: true }, 'guest-panic', 'GUEST_PANICKED'],
    ['kill -9', { status: { code: null, signal: 'SIGKILL' } }, 'unexpected', 'killed by SIGKILL'],
    ['a crash (SIGSEGV)', { status: { code: null, signal: 'SIGSEGV' } }, 'unexpected', 'killed by SIGSEGV'],
    ['an error exit', { status: { code: 1, signal: null } }, 'unexpected', 'exit code 1'],
    ['SIGTERM from someone else', { shutdownReason: 'host-signal', status: { code: 0, signal: null } }, 'unexpected', 'SHUTDOWN host-signal, exit code 0'],
    ['a quit from another monitor', { shutdownReason: 'host-qmp-quit' }, 'unexpected', 'SHUTDOWN host-qmp-quit'],
    ['a clean exit with no SHUTDOWN', { status: { code: 0, signal: null } }, 'unexpected', 'exit code 0, without a SHUTDOWN event'],
    ['an adopted QEMU gone without a word', {}, 'unexpected', 'no SHUTDOWN event; exit status unknown'],
  ])('classifies %s', (_what, evidence, cause, detail) => {
    expect(classifyExit(evidence, at)).toEqual({ cause, detail, at: '2026-02-03T04:05:06.789Z' });
  });
});

describe('causeOfShutdown', () => {
  it.each([
    ['guest-shutdown', 'guest-shutdown'],
    ['guest-panic', 'guest-panic'],
    ['host-signal', undefined],
    ['host-qmp-quit', undefined],
    [undefined, undefined],
  ])('settles %s as %s', (reason, cause) => expect(causeOfShutdown(reason)).toBe(cause));
});

describe('describeExit', () => {
  it.each([
    [{ code: null, signal: 'SIGKILL' as NodeJS.Signals }, 'killed by SIGKILL'],
    [{ code: 3, signal: null }, 'exit code 3'],
    [undefined, undefined],
  ])('describes %j', (status, text) => expect(describeExit(status)).toBe(text));
});

describe('last-exit.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-last-exit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a verdict across reads and clears it', () => {
    const stop = hostStopExit('stop (acpi)', at);
    writeLastExit(dir, stop);
    expect(readLastExit(dir)).toEqual(stop);
    writeLastExit(dir, foundDeadExit(at));
    expect(readLastExit(dir)?.cause).toBe('found-dead');
    clearLastExit(dir);
    expect(existsSync(lastExitPath(dir))).toBe(false);
    expect(readLastExit(dir)).toBeUndefined();
  });

  it.each([['not json'], ['{"cause":"exploded","detail":"x","at":"y"}'], ['{"cause":"host-stop"}']])('ignores a damaged file: %s', (text) => {
    writeFileSync(lastExitPath(dir), text);
    expect(readLastExit(dir)).toBeUndefined();
  });

  it('writes nothing (and does not throw) once the directory is gone', () => {
    expect(() => writeLastExit(join(dir, 'destroyed'), hostStopExit('stop', at))).not.toThrow();
    expect(existsSync(join(dir, 'destroyed'))).toBe(false);
  });
});
