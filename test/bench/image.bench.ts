/**
 * bench:image: Glance data throughput. A 1 GiB file of incompressible, non-repeating bytes is
 * uploaded (POST /image/v2/images, PUT .../file streamed with Content-Length, timed until 204) and
 * downloaded (GET .../file streamed to a file and fsynced, checked against the sha256 and md5),
 * and in the same run copied with fs.copyFile (a real copy, no reflink) plus fsync, on the same
 * disk as the image store, which fsyncs what it stores. Median of 3 each; one JSON line on stdout.
 */
import { OpenStackClient, credentialsFromEnv } from '@nubo/client';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import { IncomingMessage, request } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.NUBO_BENCH_IMAGE_MIB ?? 1024);
const RUNS = 3;
const log = (line: string) => process.stderr.write(`[bench:image] ${line}\n`);

interface Digests {
  sha256: string;
  md5: string;
}

/** A random 1 MiB block, written SIZE_MIB times with the block number in its first 8 bytes. */
async function writeSource(path: string): Promise<Digests> {
  const block = randomBytes(MIB);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  const file = await open(path, 'wx');
  try {
    for (let i = 0; i < SIZE_MIB; i++) {
      block.writeBigUInt64LE(BigInt(i), 0);
      sha256.update(block);
      md5.update(block);
      await file.write(block, 0, MIB);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}

async function digestsOf(path: string): Promise<Digests> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: MIB })) {
    sha256.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}

async function fsync(path: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) text += String(chunk);
  return text;
}

/** Seconds from the first byte sent to the 204. */
async function timedUpload(url: string, token: string, path: string): Promise<number> {
  const started = process.hrtime.bigint();
  const req = request(url, {
    method: 'PUT',
    headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': String(SIZE_MIB * MIB) },
  });
  const reply = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  const [res] = await Promise.all([reply, pipeline(createReadStream(path, { highWaterMark: MIB }), req)]);
  const body = await readAll(res);
  if (res.statusCode !== 204) throw new Error(`PUT ${url} -> ${res.statusCode}: ${body}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Seconds from the request to the downloaded file being on disk (fsynced). */
async function timedDownload(url: string, token: string, target: string): Promise<number> {
  const started = process.hrtime.bigint();
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    request(url, { headers: { 'x-auth-token': token } }, resolve).on('error', reject).end();
  });
  if (res.statusCode !== 200) throw new Error(`GET ${url} -> ${res.statusCode}: ${await readAll(res)}`);
  await pipeline(res, createWriteStream(target, { flags: 'wx', highWaterMark: MIB, flush: true }));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function timedCopy(source: string, target: string): Promise<number> {
  const started = process.hrtime.bigint();
  await copyFile(source, target, 0); // no COPYFILE_FICLONE: the bytes are really copied
  await fsync(target);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round = (n: number) => Math.round(n * 100) / 100;

async function main(): Promise<void> {
  const stateDir = process.env.NUBO_STATE_DIR;
  if (!stateDir) throw new Error('NUBO_STATE_DIR is not set (run through deploy/bench.sh)');
  const client = await new OpenStackClient(credentialsFromEnv()).login();
  // Under the state dir: the same filesystem as the image store's files ($NUBO_STATE_DIR/images).
  const dir = await mkdtemp(join(stateDir, 'bench-image-'));
  const imageIds: string[] = [];
  try {
    const source = join(dir, 'source.raw');
    log(`writing ${SIZE_MIB} MiB of test data to ${source}`);
    const digests = await writeSource(source);
    const times = { upload: [] as number[], download: [] as number[], copy: [] as number[] };
    for (let run = 1; run <= RUNS; run++) {
      const copyTarget = join(dir, `copy-${run}.raw`);
      times.copy.push(await timedCopy(source, copyTarget));
      await rm(copyTarget);

      const image = await client.call('POST', '/image/v2/images', 201, {
        name: `bench-image-${run}`,
        disk_format: 'raw',
        container_format: 'bare',
      });
      imageIds.push(image.id);
      const fileUrl = `${client.baseUrl}/image/v2/images/${image.id}/file`;
      times.upload.push(await timedUpload(fileUrl, client.token!, source));
      const stored = await client.call('GET', `/image/v2/images/${image.id}`, 200);
      if (stored.status !== 'active' || stored.size !== SIZE_MIB * MIB || stored.checksum !== digests.md5 || stored.os_hash_value !== digests.sha256) {
        throw new Error(`image ${image.id} after upload: ${JSON.stringify(stored)}`);
      }

      const downloaded = join(dir, `download-${run}.raw`);
      times.download.push(await timedDownload(fileUrl, client.token!, downloaded));
      const got = await digestsOf(downloaded);
      if (got.sha256 !== digests.sha256 || got.md5 !== digests.md5) throw new Error(`download ${run} differs from the upload`);
      await rm(downloaded);
      await client.call('DELETE', `/image/v2/images/${image.id}`, 204);
      imageIds.pop();
      const s = (key: keyof typeof times) => `${(SIZE_MIB / times[key][run - 1]).toFixed(0)} MiB/s`;
      log(`run ${run}: copy ${s('copy')}, upload ${s('upload')}, download ${s('download')}`);
    }
    const rate = (key: keyof typeof times) => SIZE_MIB / median(times[key]);
    process.stdout.write(
      `${JSON.stringify({
        name: 'image',
        size_mib: SIZE_MIB,
        upload_mib_s: round(rate('upload')),
        download_mib_s: round(rate('download')),
        copy_mib_s: round(rate('copy')),
        upload_ratio: round(rate('upload') / rate('copy')),
        download_ratio: round(rate('download') / rate('copy')),
      })}\n`,
    );
  } finally {
    for (const id of imageIds) await client.request('DELETE', `/image/v2/images/${id}`).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`[bench:image] failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
