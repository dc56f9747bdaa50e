/**
 * An `s3://bucket/prefix` destination through @aws-sdk/client-s3 (settings:
 * destination.ts). Large files go up in parts (@aws-sdk/lib-storage's Upload,
 * 8 MiB parts, 4 at a time), so a base snapshot is never held in memory whole
 * and is not bounded by a single PUT's 5 GB. The manifest is written with
 * If-Match on the ETag read (If-None-Match: * when it must not exist yet): a
 * 412 means another writer got there first. A server that does not implement
 * conditional PUTs (501) gets plain ones from then on.
 */
import { readFileSync, createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { S3Client, PutObjectCommand, GetObjectCommand, DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { destinationError } from './destination.js';
import type { Destination, DestinationSpec } from './destination.js';

// The SDK warns once per process (when a client is made) that its releases after early 2027 need
// Node 22; the version we use is pinned in package.json and runs on Node 20.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const PART_BYTES = 8 * 1024 * 1024;

/** An error the SDK raised for a missing key. */
function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412 || e.name === 'ConditionalRequestConflict' || e.$metadata?.httpStatusCode === 409;
}

export class S3Destination implements Destination {
  readonly url: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(spec: Extract<DestinationSpec, { kind: 's3' }>) {
    this.url = spec.url;
    this.bucket = spec.bucket;
    this.prefix = spec.prefix === '' ? '' : `${spec.prefix}/`;
    const region = spec.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'];
    this.client = new S3Client({
      ...(region !== undefined ? { region } : { region: 'us-east-1' }),
      ...(spec.endpoint !== undefined ? { endpoint: spec.endpoint } : {}),
      forcePathStyle: spec.pathStyle,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    });
  }

  private key(key: string): string {
    return this.prefix + key;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: body }));
    } catch (error) {
      throw destinationError(this.url, `writing ${key}`, error);
    }
  }

  async putFile(key: string, path: string): Promise<void> {
    try {
      const bytes = statSync(path).size;
      if (bytes <= PART_BYTES) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: readFileSync(path) }));
        return;
      }
      const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.key(key), Body: createReadStream(path) }, partSize: PART_BYTES, queueSize: 4, leavePartsOnError: false });
      await upload.done();
    } catch (error) {
      throw destinationError(this.url, `writing ${key}`, error);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const found = await this.getVersioned(key);
    return found?.body;
  }

  async getStream(key: string): Promise<{ stream: Readable; bytes: number | undefined } | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return { stream: answer.Body as Readable, bytes: answer.ContentLength };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw destinationError(this.url, `reading ${key}`, error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    try {
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.key(k) })), Quiet: true } }));
      }
    } catch (error) {
      throw destinationError(this.url, 'deleting', error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    try {
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(prefix), ...(token !== undefined ? { ContinuationToken: token } : {}) }));
        for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push(o.Key.slice(this.prefix.length));
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw destinationError(this.url, 'listing', error);
    }
    return out.sort();
  }

  async getVersioned(key: string): Promise<{ body: Buffer; version: string } | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      const bytes = await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
      return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), version: answer.ETag ?? '' };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw destinationError(this.url, `reading ${key}`, error);
    }
  }

  /** False once the server said it does not implement conditional PUTs (older S3-compatible servers). */
  private conditional = true;

  async putIfVersion(key: string, body: string, version: string | null): Promise<string | 'conflict'> {
    try {
      const condition = !this.conditional ? {} : version === null ? { IfNoneMatch: '*' } : { IfMatch: version };
      const answer = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: body, ...condition }));
      return answer.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error)) return 'conflict';
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (this.conditional && (e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501)) {
        // Without compare-and-swap the leader's term fencing (it stops archiving as soon as it no longer leads) is what remains.
        this.conditional = false;
        return this.putIfVersion(key, body, version);
      }
      throw destinationError(this.url, `writing ${key}`, error);
    }
  }

  close(): void {
    this.client.destroy();
  }
}
