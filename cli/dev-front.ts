/**
 * A minimal leader-forwarding front for `geode dev` on 127.0.0.1:3141, so the
 * README's `curl localhost:3141/v1/query` works against the 3-node cluster.
 * Stopgap: the real gateway (gateway/, next issue) replaces it.
 *
 * It forwards POST /v1/query and GET /api/v1/cluster/status to the current
 * leader, learned from the nodes' /api/v1/cluster/status. A 421 NOT_LEADER
 * is followed once to its leader_url; a refused connection makes it re-learn
 * the leader and retry for up to 2 s.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DevFront {
  readonly url: string;
  close(): Promise<void>;
}

const RETRY_WINDOW_MS = 2_000;
const MAX_BODY_BYTES = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startDevFront(options: { host: string; port: number; nodeUrls: () => string[] }): Promise<DevFront> {
  let leaderUrl: string | undefined;

  async function learnLeader(): Promise<string | undefined> {
    const views = await Promise.all(
      options.nodeUrls().map(async (url) => {
        try {
          const response = await fetch(`${url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(500) });
          const body = (await response.json()) as { leader_url?: unknown };
          return typeof body.leader_url === 'string' ? body.leader_url : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    leaderUrl = views.find((v) => v !== undefined);
    return leaderUrl;
  }

  async function forward(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Response> {
    const deadline = Date.now() + RETRY_WINDOW_MS;
    let lastError: unknown;
    for (;;) {
      const target = leaderUrl ?? (await learnLeader());
      if (target !== undefined) {
        try {
          const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body }) };
          let response = await fetch(`${target}${path}`, init);
          if (response.status === 421) {
            const text = await response.text();
            const redirect = leaderFrom(text);
            if (redirect === undefined || redirect === target) return new Response(text, { status: 421, headers: { 'content-type': 'application/json' } });
            leaderUrl = redirect;
            response = await fetch(`${redirect}${path}`, init);
          }
          return response;
        } catch (error) {
          // Connection refused or reset: the leader is gone; find the new one.
          lastError = error;
          leaderUrl = undefined;
        }
      }
      if (Date.now() >= deadline) break;
      await sleep(100);
      if (leaderUrl === undefined) await learnLeader();
    }
    const message = lastError instanceof Error ? lastError.message : 'no leader is known';
    return Response.json({ error: { code: 'NO_QUORUM', message: `dev front: no reachable leader (${message})` } }, { status: 503 });
  }

  async function handle(request: IncomingMessage, reply: ServerResponse): Promise<void> {
    const path = request.url ?? '/';
    let response: Response;
    if (request.method === 'POST' && path === '/v1/query') {
      const body = await readBody(request);
      response = await forward('POST', path, body, { 'content-type': request.headers['content-type'] ?? 'application/json' });
    } else if (request.method === 'GET' && path === '/api/v1/cluster/status') {
      response = await forward('GET', path, undefined, {});
    } else if (request.method === 'GET' && path === '/healthz') {
      response = Response.json({ status: 'ok', front: 'dev' });
    } else {
      response = Response.json({ error: { code: 'NOT_FOUND', message: `dev front: no route ${request.method ?? ''} ${path}` } }, { status: 404 });
    }
    const payload = Buffer.from(await response.arrayBuffer());
    reply.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json', 'content-length': payload.length });
    reply.end(payload);
  }

  const server: Server = createServer((request, reply) => {
    handle(request, reply).catch((error: unknown) => {
      if (reply.headersSent) return void reply.destroy();
      const message = error instanceof Error ? error.message : String(error);
      reply.writeHead(error instanceof BodyTooLarge ? 413 : 502, { 'content-type': 'application/json' });
      reply.end(JSON.stringify({ error: { code: error instanceof BodyTooLarge ? 'PAYLOAD_TOO_LARGE' : 'INTERNAL', message: `dev front: ${message}` } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

class BodyTooLarge extends Error {}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function leaderFrom(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { leader_url?: unknown } };
    const url = body.error?.leader_url;
    return typeof url === 'string' ? url : undefined;
  } catch {
    return undefined;
  }
}
