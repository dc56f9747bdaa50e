/**
 * Where backups go: `file:///abs/path` or `s3://bucket/prefix`.
 *
 * S3 goes through @aws-sdk/client-s3 (s3-destination.ts) with the SDK's own
 * resolution of everything but path style: the region from AWS_REGION (or
 * the shared config's profile; `us-east-1` when neither names one), the
 * endpoint from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, credentials from the
 * default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and
 * ~/.aws, instance roles...). S3-compatible servers (MinIO, Ceph, moto) often
 * need path-style addressing (`http://host/bucket/key` rather than
 * `http://bucket.host/key`): `?path_style=true` in the URL, or
 * GEODE_S3_FORCE_PATH_STYLE=1 in the environment of every node and of the
 * CLI. The URL may also carry `?endpoint=http://host:port` and `?region=...`,
 * which win over the environment: the setting is replicated, so a URL that
 * says everything reaches the same place from every node. Credentials never
 * go in the URL.
 *
 * Every write is whole or absent for readers (file: temp file, fsync, rename;
 * S3: a PUT is atomic). The manifest is written conditionally (compare and
 * swap on its version: the S3 ETag with If-Match / If-None-Match, on a file
 * system a lock directory and the content's digest), so two leaders that
 * overlap for a moment cannot overwrite each other's manifest unseen.
 */
import type { Readable } from 'node:stream';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';

export type DestinationSpec = { kind: 'file'; path: string; url: string } | { kind: 's3'; bucket: string; prefix: string; pathStyle: boolean; endpoint?: string; region?: string; url: string };

export interface Destination {
  readonly url: string;
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** Stores a local file (streamed; large files in parts on S3). */
  putFile(key: string, path: string): Promise<void>;
  /** The object, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** The object as a stream with its size, or undefined when it does not exist. */
  getStream(key: string): Promise<{ stream: Readable; bytes: number | undefined } | undefined>;
  /** Deletes what exists of `keys`. */
  delete(keys: readonly string[]): Promise<void>;
  /** Every key under `prefix` (relative to the destination). */
  list(prefix: string): Promise<string[]>;
  /** An object and a version token for putIfVersion. */
  getVersioned(key: string): Promise<{ body: Buffer; version: string } | undefined>;
  /** Writes only if the object is still at `version` (null: it must not exist); the new version, or 'conflict'. */
  putIfVersion(key: string, body: string, version: string | null): Promise<string | 'conflict'>;
  close(): void;
}

/** Reads a destination URL; throws an Error saying what is wrong with it. */
export function parseDestination(text: string): DestinationSpec {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${JSON.stringify(text)} is not a URL (file:///abs/path or s3://bucket/prefix)`);
  }
  if (url.protocol === 'file:') {
    if (url.search !== '' || url.hash !== '') throw new Error('a file:// destination takes no query or fragment');
    if (url.host !== '' && url.host !== 'localhost') throw new Error(`a file:// destination names a local path (file:///abs/path), not host ${url.host}`);
    const path = fileURLToPath(url);
    if (!isAbsolute(path)) throw new Error('a file:// destination needs an absolute path');
    return { kind: 'file', path: path.replace(/\/+$/, '') || '/', url: text };
  }
  if (url.protocol === 's3:') {
    const bucket = url.hostname;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`${JSON.stringify(bucket)} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')`);
    if (url.username !== '' || url.password !== '') throw new Error('credentials never go in the URL: use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile');
    const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
    let pathStyle = ['1', 'true'].includes((process.env['GEODE_S3_FORCE_PATH_STYLE'] ?? '').toLowerCase());
    let endpoint: string | undefined;
    let region: string | undefined;
    for (const [key, value] of url.searchParams) {
      if (key === 'path_style') {
        if (value !== 'true' && value !== 'false') throw new Error('path_style: expected true or false');
        pathStyle = value === 'true';
      } else if (key === 'endpoint') {
        try {
          const e = new URL(value);
          if (e.protocol !== 'http:' && e.protocol !== 'https:') throw new Error();
        } catch {
          throw new Error(`endpoint: ${JSON.stringify(value)} is not an http(s) URL`);
        }
        endpoint = value;
      } else if (key === 'region') region = value;
      else throw new Error(`unknown parameter ${key} (path_style, endpoint and region are known)`);
    }
    return { kind: 's3', bucket, prefix, pathStyle, url: text, ...(endpoint === undefined ? {} : { endpoint }), ...(region === undefined ? {} : { region }) };
  }
  throw new Error(`unsupported scheme ${url.protocol} (file:// or s3://)`);
}

/** Opens a destination (the S3 SDK is loaded only for s3:// URLs). */
export async function openDestination(text: string): Promise<Destination> {
  let spec: DestinationSpec;
  try {
    spec = parseDestination(text);
  } catch (error) {
    throw new GeodeError(ErrorCode.BAD_REQUEST, `backup destination ${text}: ${error instanceof Error ? error.message : String(error)}`, { detail: 'InvalidDestination' });
  }
  if (spec.kind === 'file') {
    const { FileDestination } = await import('./file-destination.js');
    return new FileDestination(spec.path, spec.url);
  }
  const { S3Destination } = await import('./s3-destination.js');
  return new S3Destination(spec);
}

/** A destination failure as a stable error naming the object and the cause. */
export function destinationError(url: string, what: string, cause: unknown): GeodeError {
  if (cause instanceof GeodeError) return cause;
  const message = cause instanceof Error ? `${cause.name !== 'Error' ? `${cause.name}: ` : ''}${cause.message}` : String(cause);
  return new GeodeError(ErrorCode.BACKUP_DESTINATION, `backup destination ${url}: ${what} failed: ${message}`, { extra: { destination: url } });
}
