/**
 * The control endpoint of `geode dev`: how `geode cluster kill-node` and
 * `start-node` reach the node processes. The dev process owns and
 * supervises them (launcher.ts, supervisor.ts), so other processes ask it
 * rather than signal pids or spawn nodes of their own: a kill through here is
 * deliberate and the supervisor leaves the node down until a start through
 * here, while a node that dies any other way is restarted. One owner also
 * means one writer of dev.json.
 *
 * HTTP on 127.0.0.1 with a system-chosen port (dev.json's `control`), behind
 * the cluster's admin token:
 *   POST /v1/nodes/<name>/kill   -> {node, pid}  (pid: the process killed, or null if it was down)
 *   POST /v1/nodes/<name>/start  -> {node, pid, already_running}
 * Errors are `{error: {code, message}}` with shared/protocol's codes.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, httpStatusFor } from '../shared/protocol/errors.js';
import { adminAuthorized } from '../shared/protocol/admin-token.js';
import type { DevState } from './dev-state.js';

export type ControlAction = 'kill' | 'start';

export interface ControlAnswer {
  node: string;
  pid: number | null;
  already_running?: boolean;
}

/** What the dev process does for each request; it serializes requests per node. */
export interface DevControlActions {
  nodes(): string[];
  kill(name: string): Promise<ControlAnswer>;
  start(name: string): Promise<ControlAnswer>;
}

export interface DevControl {
  url: string;
  close(): Promise<void>;
}

const ROUTE = /^\/v1\/nodes\/([^/]+)\/(kill|start)$/;

export async function startDevControl(actions: DevControlActions, adminToken: string): Promise<DevControl> {
  const reply = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  const fail = (response: ServerResponse, code: ErrorCode, message: string): void => reply(response, httpStatusFor[code], { error: { code, message } });
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (!adminAuthorized(request.headers.authorization, adminToken)) return fail(response, ErrorCode.UNAUTHORIZED, 'the admin token of this dev cluster is required');
    const match = request.method === 'POST' ? ROUTE.exec(request.url ?? '') : null;
    if (match === null) return fail(response, ErrorCode.NOT_FOUND, `no route ${request.method ?? ''} ${request.url ?? ''}`);
    const name = decodeURIComponent(match[1] ?? '');
    if (!actions.nodes().includes(name)) return fail(response, ErrorCode.NOT_FOUND, `unknown node ${name} (dev nodes: ${actions.nodes().join(', ')})`);
    try {
      reply(response, 200, match[2] === 'kill' ? await actions.kill(name) : await actions.start(name));
    } catch (error) {
      fail(response, ErrorCode.INTERNAL, error instanceof Error ? error.message : String(error));
    }
  };
  const server = createServer((request, response) => {
    request.resume();
    void handle(request, response);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

/** A control request refused or not answered; the message is for the operator. */
export class ControlFailed extends Error {}

/** Asks the `geode dev` recorded in `state` to kill or start `node`; waits at most `timeoutMs`. */
export async function askDev(state: DevState, action: ControlAction, node: string, timeoutMs: number): Promise<ControlAnswer> {
  let response: Response;
  try {
    response = await fetch(`${state.control}/v1/nodes/${encodeURIComponent(node)}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${state.admin_token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'it does not answer';
    throw new ControlFailed(`geode dev (pid ${state.pid}, control ${state.control}): ${reason}; is it still running?`);
  }
  const body = (await response.json()) as ControlAnswer & { error?: { message?: string } };
  if (!response.ok) throw new ControlFailed(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}
