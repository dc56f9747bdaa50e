/**
 * etcd's native client protocol for bench/raft.ts: `etcdserverpb.KV/Put` over
 * gRPC (one HTTP/2 connection, every request a stream on it), the way etcd's
 * own clients and its `benchmark` tool talk to it.
 *
 * The request is encoded by hand rather than from etcd's .proto files: a
 * PutRequest with only `key` (field 1, bytes) and `value` (field 2, bytes)
 * set is two length-delimited fields, and the bench reads nothing of the
 * answer but its status.
 */
import * as grpc from '@grpc/grpc-js';

const PUT = '/etcdserverpb.KV/Put';

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** A protobuf `etcdserverpb.PutRequest {key, value}`. */
export function encodePutRequest(key: Buffer, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x0a]), varint(key.length), key, Buffer.from([0x12]), varint(value.length), value]);
}

const asIs = (b: Buffer): Buffer => b;

export class EtcdGrpcClient {
  private readonly client: grpc.Client;

  /** `clientUrl`: a member's client URL (`http://host:port`); plaintext, as the bench's cluster runs. */
  constructor(clientUrl: string) {
    this.client = new grpc.Client(new URL(clientUrl).host, grpc.credentials.createInsecure());
  }

  put(key: Buffer, value: Buffer, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(PUT, asIs, asIs, encodePutRequest(key, value), { deadline: Date.now() + timeoutMs }, (error) => {
        if (error) reject(new Error(`etcd put (gRPC): ${error.message}`));
        else resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
