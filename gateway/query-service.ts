/**
 * What the gateway does with one statement: classify it (parse cached by
 * text), answer session settings itself, send writes to the leader (held
 * through elections, resent with the same request_id), and route reads
 * through the candidate pipeline with the session's lag bound and causal
 * index, falling back to the next candidate and, if allowed, the degraded
 * result cache.
 *
 * Read-your-writes by default: the gateway keeps the highest position of the
 * writes it acknowledged, and every read carries `after_index` = the later
 * of that and the session token's causal position. A read without a token
 * thus sees every write this gateway acknowledged before the read arrived
 * (the replica waits until it has applied it; replicas known to be behind
 * are tried last); with a token, the session's own writes on any gateway.
 * `read_your_writes: false` leaves tokenless reads to the lag bound alone.
 *
 * Regions (topology/regions.ts): in a deployment of regional groups a
 * position is (region epoch, index) in the primary's log (session/position.ts).
 * Writes go to the primary region's leader; a write refused with
 * NOT_PRIMARY_REGION names the primary at a (possibly newer) epoch, which
 * the topology adopts if it is newer, and the write is resent there, held
 * like a write during an election (EPOCH_UNCONFIRMED likewise, like
 * NO_QUORUM). Reads go to the nearest region first, skipping regions that
 * serve no reads and, for bounded reads, regions whose lag is unknown or
 * whose lag plus the replica's own is over the bound; they carry
 * `after_epoch` with `after_index`, so a follower region's node serves them
 * once it has applied that position of the primary's log. `after_epoch`
 * goes only to regional nodes: a single group's nodes accept no field they
 * do not know (shared/protocol/query.ts).
 *
 * A node's error answer is the statement's own outcome unless its code says
 * it is about the node's state (errorCodeSpecs[code].retryable: NOT_LEADER,
 * REPLICA_LAGGING, NO_QUORUM, OVERLOADED), which sends a read to the next
 * candidate and holds a write for a leader. TIMEOUT, MEMORY_LIMIT,
 * WORK_LIMIT and the rest go back to the client as the node gave them,
 * retried nowhere: a statement that is too slow or too big is so on every
 * replica. A read gets the client's whole time on its node, plus a margin for
 * the node's own TIMEOUT answer; past that, a node that is still alive
 * (health checks, stream pongs) makes the answer 408 TIMEOUT, not a node
 * failure.
 *
 * Hedged reads: when a replica has not answered a read within
 * `read_hedge_ms` (default 250) and has shown no sign of life as long, the
 * gateway probes it (stream pings, and a health check its main thread
 * answers even while its read workers are busy); if the process stays
 * silent through another such delay (paused, partitioned or wedged, which
 * health checks only notice seconds later), the read is also sent to the
 * next candidate and the first answer wins. A replica that answers the probe
 * is alive and only slow on this read: it is left to finish alone, so a long
 * read is not run twice on a healthy cluster. A read whose node is declared
 * down by health checks (or its breaker opens) while it waits moves on to
 * the next candidate, hedging or not. Either way a statement goes to at most
 * MAX_NODES_PER_READ nodes that may have run it: one that kills the nodes
 * it runs on does not get to visit them all.
 */
import { LRUCache } from 'lru-cache';
import { classify, parse } from '../shared/gql/index.js';
import type { SessionSetStatement, StatementKind } from '../shared/gql/ast.js';
import { ErrorCode, GeodeError, errorCodeSpecs, errorFromWire } from '../shared/protocol/errors.js';
import { newRequestId } from '../shared/protocol/request-id.js';
import { AcknowledgedIndex } from './acknowledged-index.js';
import { BreakerOpen, NodeFailure } from './breakers/breakers.js';
import type { Breakers } from './breakers/breakers.js';
import type { Consistency, GatewayConfig } from './config.js';
import type { GatewayMetrics, RouteTarget } from './api/metrics.js';
import type { NodeAnswer, NodeClient } from './node-client.js';
import { StatementTimeout, errorField } from './node-client.js';
import { locate, nearestRegion } from './routing/geo.js';
import type { GeoPoint, RegionPoint } from './routing/geo.js';
import { leaderFirst, planRead } from './routing/pipeline.js';
import type { Candidate } from './routing/pipeline.js';
import { ORIGIN, appliedTowards, comparePositions, epochOr1, isPastOrigin, laterPosition, positionFrom } from './session/position.js';
import type { Position } from './session/position.js';
import { applySessionSetting } from './session/settings.js';
import { sessionPosition, withPosition } from './session/token.js';
import type { Session } from './session/token.js';
import { lagOf } from './topology/node-view.js';
import type { RegionalTopology } from './topology/regions.js';

export interface QueryBody {
  query: string;
  params?: Record<string, unknown>;
  timeout_ms?: number;
  request_id?: string;
  consistency?: Consistency;
  max_lag_ms?: number;
  after_index?: number;
  /** The region epoch of `after_index` (absent: 1); sent to nodes of regional deployments only. */
  after_epoch?: number;
}

export interface QueryOutcome {
  status: number;
  /** JSON text to send as is. */
  body: string;
  session: Session;
  kind: StatementKind;
  target: RouteTarget;
  /** The error code when status is not 200. */
  outcome: string;
}

interface StatementPlan {
  kind: StatementKind;
  setting: SessionSetStatement | undefined;
}

/** Longer texts are parsed every time rather than pinned in the cache. */
const MAX_CACHED_TEXT = 16 * 1024;
/** Pause between write attempts that made no progress (e.g. NOT_LEADER ping-pong mid-election). */
const RETRY_PAUSE_MS = 25;
/**
 * Pause after EPOCH_UNCONFIRMED: the primary region confirms its epoch with the other regions once
 * per region health-check interval (1 s by default), so asking every 25 ms only adds load.
 */
const EPOCH_RETRY_PAUSE_MS = 100;
/** NOT_PRIMARY_REGION answers a write follows at once to the region it names; past these, attempts are paused like any other. */
const MAX_REGION_REDIRECTS = 3;
/** How long past the client's timeout the gateway waits for the node's own answer (its TIMEOUT, say) before answering for it. */
const NODE_ANSWER_MARGIN_MS = 500;
/** With hedging off, how often a read waiting on a node looks whether health checks have declared that node down. */
const DOWN_CHECK_MS = 250;
/**
 * Nodes a read may be in flight on that then fail under it (no answer, connection lost, 5xx), hedge
 * included: one more than the first, so a dead replica costs a retry, and a statement that kills
 * the node it runs on takes down at most two, never every replica.
 */
const MAX_NODES_PER_READ = 2;

/**
 * Whether the gateway should try elsewhere or later: the code is about the node's state (NOT_LEADER,
 * REPLICA_LAGGING, NO_QUORUM, OVERLOADED). A statement's own outcome is never retried here, even one
 * the node labels retryable for the client (a write whose acknowledgement timed out: the client,
 * with its request_id and its own time, decides).
 */
function aboutTheNode(error: GeodeError): boolean {
  return errorCodeSpecs[error.code].retryable && error.retryable;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One read attempt's outcome, by its position in the plan. */
interface Attempt {
  i: number;
  answer: NodeAnswer | undefined;
  error: unknown;
}

interface CachedRead {
  text: string;
  /** The position the answer reflects (undefined: unknown, usable only by sessions that wait for nothing). */
  position: Position | undefined;
}

export interface QueryServiceOptions {
  config: GatewayConfig;
  topology: RegionalTopology;
  breakers: Breakers;
  client: NodeClient;
  metrics: GatewayMetrics;
}

export class QueryService {
  private readonly plans = new LRUCache<string, StatementPlan>({ max: 5000 });
  private readonly results: LRUCache<string, CachedRead> | undefined;
  private readonly regionPoints: RegionPoint[];
  private turn = 0;
  private heldWrites = 0;
  private readonly acknowledged = new AcknowledgedIndex();

  constructor(private readonly options: QueryServiceOptions) {
    const { queryCache, regions } = options.config;
    this.results = queryCache.enabled ? new LRUCache({ max: queryCache.maxEntries, ttl: queryCache.ttlMs }) : undefined;
    this.regionPoints = regions.map((r) => ({ name: r.name, lat: r.lat, lon: r.lon }));
  }

  get writesWaiting(): number {
    return this.heldWrites;
  }

  /** The highest log index of a write this gateway acknowledged: every read's `after_index` is at least this (read_your_writes). */
  get acknowledgedIndex(): number {
    return this.acknowledged.value;
  }

  /** The same as a position: (region epoch, index). */
  get acknowledgedPosition(): Position {
    return this.acknowledged.position;
  }

  /** Whether the acknowledged index is shared with sibling worker processes (`geode gateway --workers N`). */
  get acknowledgedIndexShared(): boolean {
    return this.acknowledged.sharedWithSiblings;
  }

  close(): void {
    this.acknowledged.close();
  }

  /** Parses (or recalls) the statement; query errors are thrown, never cached. */
  classify(query: string): StatementPlan {
    const cached = this.plans.get(query);
    if (cached !== undefined) return cached;
    const statement = parse(query);
    const plan: StatementPlan = { kind: classify(statement), setting: statement.kind === 'SessionSet' ? statement : undefined };
    if (query.length <= MAX_CACHED_TEXT) this.plans.set(query, plan);
    return plan;
  }

  /** The default session of a client that sent no token. */
  defaultSession(): Session {
    const { config } = this.options;
    return { readPreference: config.readPreference, maxLagMs: config.maxReplicationLagMs, consistency: config.consistency, causalIndex: 0 };
  }

  answerSessionSetting(session: Session, setting: SessionSetStatement): QueryOutcome {
    const next = applySessionSetting(session, setting);
    const body = {
      columns: ['setting', 'value'],
      rows: [{ setting: setting.setting, value: setting.value }],
      stats: emptyStats(),
      meta: { node: 'gateway', role: 'gateway', term: this.options.topology.term, index: next.causalIndex, applied_index: next.causalIndex },
    };
    return { status: 200, body: JSON.stringify(body), session: next, kind: 'session', target: 'gateway', outcome: 'ok' };
  }

  /**
   * `kind` comes from `classify`; session statements go to `answerSessionSetting`. A write keeps the
   * request_id it came with (GatewayCore mints one before its limits) or gets one here; its error
   * answers carry it.
   */
  async execute(body: QueryBody, kind: StatementKind, session: Session, clientAddress: string | undefined): Promise<QueryOutcome> {
    const timeoutMs = body.timeout_ms ?? this.options.config.defaultTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    if (kind === 'write' || kind === 'schema' || kind === 'cluster') {
      const requestId = body.request_id ?? newRequestId();
      const payload = JSON.stringify({ ...body, request_id: requestId, timeout_ms: timeoutMs });
      const answer = await this.toLeader(payload, deadline, timeoutMs, true);
      const position = answer.status === 200 ? writePosition(answer.json) : undefined;
      if (position !== undefined) {
        this.options.topology.observeWriteEpoch(answer.url, position.epoch);
        // With sibling workers, the answer waits until they all know the position: the client's next read may reach any of them.
        const sharing = this.acknowledged.raise(position);
        if (sharing !== undefined) await sharing;
      }
      return this.finish(answer, kind, 'leader', session, position, requestId);
    }
    const consistency = body.consistency ?? session.consistency;
    const after = this.readAfter(body, session);
    const request: QueryBody = { query: body.query, consistency };
    if (body.params !== undefined) request.params = body.params;
    if (this.options.topology.regional) {
      if (isPastOrigin(after)) {
        request.after_index = after.index;
        request.after_epoch = after.epoch;
      }
    } else if (after.index > 0) request.after_index = after.index;
    if (consistency === 'linearizable' || consistency === 'leader') {
      request.timeout_ms = timeoutMs;
      const answer = await this.toLeader(JSON.stringify(request), deadline, timeoutMs, false);
      return this.finish(answer, kind, 'leader', session, this.readPosition(answer));
    }
    const lagBoundMs = consistency === 'bounded' ? (body.max_lag_ms ?? session.maxLagMs) : undefined;
    if (lagBoundMs !== undefined) request.max_lag_ms = lagBoundMs;
    return this.readFromReplicas(request, after, kind, session, lagBoundMs, deadline, timeoutMs, clientAddress);
  }

  /** What a read waits for: the latest of the client's `after_index`/`after_epoch`, the session's position and (read_your_writes) this gateway's acknowledged writes. */
  private readAfter(body: QueryBody, session: Session): Position {
    const asked = body.after_index !== undefined || body.after_epoch !== undefined ? { epoch: epochOr1(body.after_epoch), index: body.after_index ?? 0 } : ORIGIN;
    const ownWrites = this.options.config.readYourWrites ? this.acknowledged.position : ORIGIN;
    return laterPosition(laterPosition(asked, sessionPosition(session)), ownWrites);
  }

  /**
   * The position a read answer reflects, for the session's token: the node's `meta.position` when it
   * gives one; in one group, its applied index (at `meta.epoch`, absent 1); in regional groups, its
   * applied index only from a node of the primary region at the current epoch (elsewhere the node's
   * own log index says nothing of the primary's log), else unknown: the token keeps what it had.
   */
  private readPosition(answer: NodeAnswer): Position | undefined {
    if (answer.status !== 200) return undefined;
    const meta = (answer.json as { meta?: Record<string, unknown> } | null)?.meta;
    const explicit = positionFrom(meta?.['position']);
    if (explicit !== undefined) return explicit;
    const applied = metaNumber(answer.json, 'applied_index');
    if (applied === undefined) return undefined;
    const { topology } = this.options;
    if (!topology.regional) return { epoch: epochOr1(meta?.['epoch']), index: applied };
    const epoch = meta?.['epoch'];
    if (typeof epoch === 'number' && epoch === topology.epoch && topology.regionOf(answer.url) === topology.primaryRegion) return { epoch, index: applied };
    return undefined;
  }

  // ---- leader path ------------------------------------------------------------

  /**
   * Sends to the leader. While none can take it (election, leader down, NOT_LEADER
   * without a usable hint, NO_QUORUM), the request is held, up to write_hold_ms
   * from the first failure, and resent unchanged (same request_id).
   */
  private async toLeader(payload: string, deadline: number, timeoutMs: number, isWrite: boolean): Promise<NodeAnswer> {
    const { config, topology, client, metrics } = this.options;
    let holdStartedAt: number | undefined;
    let held = false;
    let hint: string | undefined;
    let redirects = 0;
    let lastError: GeodeError | undefined;
    const startHold = (): void => {
      holdStartedAt ??= Date.now();
    };
    const holdLeft = (): number => (holdStartedAt === undefined ? config.writeHoldMs : holdStartedAt + config.writeHoldMs - Date.now());
    const overdue = (): GeodeError =>
      isWrite
        ? new GeodeError(ErrorCode.TIMEOUT, `the write was not acknowledged within its time limit of ${timeoutMs} ms; its outcome is unknown, retry with the same request_id`, { retryable: true })
        : new GeodeError(ErrorCode.TIMEOUT, `the statement ran past its time limit of ${timeoutMs} ms`);
    try {
      for (;;) {
        const target = hint ?? topology.availableLeader()?.url;
        hint = undefined;
        if (target === undefined || holdStartedAt !== undefined) {
          if (holdLeft() <= 0) throw lastError ?? new GeodeError(ErrorCode.NO_QUORUM, `no leader could take the request within ${config.writeHoldMs} ms`, { detail: 'NoLeader' });
          if (!held && isWrite) {
            if (this.heldWrites >= config.writeQueue) throw new GeodeError(ErrorCode.OVERLOADED, 'too many writes are waiting for a leader', { detail: 'WriteQueueFull' });
            this.heldWrites++;
            held = true;
            metrics.writesHeld.inc();
          }
        }
        if (target === undefined) {
          startHold();
          await topology.waitForLeader(Math.max(0, Math.min(holdLeft(), deadline - Date.now())));
          if (Date.now() >= deadline) throw lastError ?? new GeodeError(ErrorCode.TIMEOUT, 'no leader within the request timeout', { retryable: isWrite });
          continue;
        }
        let answer: NodeAnswer;
        try {
          answer = await client.query(target, payload, Math.max(1, deadline - Date.now()) + NODE_ANSWER_MARGIN_MS, !isWrite);
        } catch (error) {
          if (error instanceof StatementTimeout) throw overdue();
          lastError = this.unavailable(error);
          if (error instanceof NodeFailure && error.reason === 'timeout' && Date.now() >= deadline) {
            throw new GeodeError(ErrorCode.TIMEOUT, `the leader showed no sign of life within the request timeout of ${timeoutMs} ms`, { detail: 'LeaderSilent', retryable: isWrite });
          }
          startHold();
          await sleep(RETRY_PAUSE_MS);
          continue;
        }
        if (answer.status === 200) {
          this.observe(answer);
          return answer;
        }
        const error = errorFromWire(errorBody(answer.json), `node answered ${answer.status}`);
        if (!aboutTheNode(error) || Date.now() >= deadline) return answer;
        lastError = error;
        startHold();
        if (error.code === ErrorCode.NOT_LEADER) {
          const leaderUrl = errorField(answer.json, 'leader_url');
          topology.refresh();
          if (typeof leaderUrl === 'string' && leaderUrl !== '') {
            const known = topology.learnLeader(target, leaderUrl);
            if (known !== undefined && known.url !== target && known.healthy) {
              hint = known.url;
              continue;
            }
          }
        } else if (error.code === ErrorCode.NOT_PRIMARY_REGION) {
          // A promotion, or a gateway behind on the epoch: the answer names the primary at the node's epoch (adopted only if newer).
          const epoch = errorField(answer.json, 'epoch');
          const primary = errorField(answer.json, 'primary_region');
          const primaryLeader = errorField(answer.json, 'primary_leader_url');
          if (typeof epoch === 'number' && typeof primary === 'string' && primary !== '') {
            topology.observePrimary(epoch, primary, typeof primaryLeader === 'string' && primaryLeader !== '' ? primaryLeader : undefined, target);
          }
          topology.refresh();
          const next = topology.availableLeader()?.url;
          if (next !== undefined && next !== target && redirects < MAX_REGION_REDIRECTS) {
            redirects++;
            hint = next;
            continue;
          }
        }
        if (error.code === ErrorCode.EPOCH_UNCONFIRMED) topology.probeNow();
        await sleep(error.code === ErrorCode.EPOCH_UNCONFIRMED ? EPOCH_RETRY_PAUSE_MS : RETRY_PAUSE_MS);
      }
    } finally {
      if (held) {
        this.heldWrites--;
        if (holdStartedAt !== undefined) metrics.writeHoldSeconds.observe((Date.now() - holdStartedAt) / 1000);
      }
    }
  }

  // ---- replica path -------------------------------------------------------------

  /**
   * Every node that may serve a read. One group: as its topology sees them. Regional groups: every
   * region's nodes, `leader` only for the primary region's leader, each with its region's gate, a
   * lag that adds the region's lag to the node's own, and (given the read's `after` position) an
   * applied index comparable with `after.index` (session/position.ts `appliedTowards`).
   */
  candidates(after?: Position): Candidate[] {
    const { topology, breakers } = this.options;
    if (!topology.regional) {
      const leader = topology.leader()?.url;
      return topology
        .views()
        .filter((v) => v.role !== 'candidate' && (v.role !== 'unknown' || v.url === leader))
        .map((v) => ({
          url: v.url,
          region: v.region,
          leader: v.url === leader,
          healthy: v.healthy,
          lagMs: lagOf(v),
          breaker: breakers.state(v.url),
          inflight: v.inflight,
          rttMs: v.rttMs,
          appliedIndex: v.appliedIndex,
        }));
    }
    const candidates: Candidate[] = [];
    for (const region of topology.regionViews()) {
      const regionLeader = region.leader?.url;
      for (const v of region.views) {
        if (v.role === 'candidate' || (v.role === 'unknown' && v.url !== regionLeader)) continue;
        const own = lagOf(v);
        let appliedIndex = v.appliedIndex;
        if (after !== undefined) appliedIndex = appliedTowards(region.primary ? { epoch: topology.epoch, index: v.appliedIndex } : region.position, after);
        candidates.push({
          url: v.url,
          region: region.name,
          leader: region.primary && v.url === regionLeader,
          healthy: v.healthy,
          lagMs: region.lagMs === null ? own : region.lagMs + (own ?? 0),
          breaker: breakers.state(v.url),
          inflight: v.inflight,
          rttMs: v.rttMs,
          appliedIndex,
          regionGate: region.gate,
        });
      }
    }
    return candidates;
  }

  /** The client's location and home region for `nearest`; the gateway's region otherwise. */
  private whereIs(session: Session, clientAddress: string | undefined): { origin: GeoPoint | undefined; home: string | undefined } {
    const own = this.options.config.region;
    if (session.readPreference !== 'nearest') return { origin: undefined, home: own };
    const origin = locate(clientAddress);
    if (origin === undefined) {
      const region = this.regionPoints.find((r) => r.name === own);
      return { origin: region, home: own };
    }
    return { origin, home: nearestRegion(origin, this.regionPoints)?.name ?? own };
  }

  private async readFromReplicas(
    request: QueryBody,
    after: Position,
    kind: StatementKind,
    session: Session,
    lagBoundMs: number | undefined,
    deadline: number,
    timeoutMs: number,
    clientAddress: string | undefined,
  ): Promise<QueryOutcome> {
    const { metrics, topology, breakers } = this.options;
    const { origin, home } = this.whereIs(session, clientAddress);
    const routed = planRead(this.candidates(after), { policy: session.readPreference, lagBoundMs, homeRegion: home, origin, regions: this.regionPoints, turn: this.turn++, afterIndex: after.index });
    // System views: only the leader knows every member's lag and health; without one, a replica answers (partial).
    const plan = kind === 'admin' && topology.availableLeader() !== undefined ? leaderFirst(routed) : routed;
    let lastError: GeodeError | undefined;
    /** The last failure was a node's answer (relayed as is) rather than a connection failure. */
    let lastAnswer: NodeAnswer | undefined;
    // Serialized once; each attempt appends its own timeout (`request` never has one).
    const head = JSON.stringify(request).slice(0, -1);
    const { client, config } = this.options;
    // Attempts in flight (at most two: the first and one hedge), by plan position.
    const running = new Map<number, Promise<Attempt>>();
    let next = 0;
    /** Attempts that may have reached their node and ended without an answer (or were given up on). */
    let lost = 0;
    const launch = (): void => {
      if (next >= plan.length || lost + running.size >= MAX_NODES_PER_READ) return;
      const left = deadline - Date.now();
      if (left <= 0) return;
      const i = next++;
      const candidate = plan[i] as Candidate;
      // The node gets the client's whole time; the gateway waits a little longer for its own answer.
      running.set(
        i,
        client.query(candidate.url, `${head},"timeout_ms":${left}}`, left + NODE_ANSWER_MARGIN_MS, true).then(
          (answer) => ({ i, answer, error: undefined }),
          (error: unknown) => ({ i, answer: undefined, error }),
        ),
      );
    };
    launch();
    // With one candidate there is nothing to hedge to or move on to: just wait.
    const watch = plan.length > 1;
    const tickMs = config.readHedgeMs > 0 ? config.readHedgeMs : DOWN_CHECK_MS;
    /** When the replica holding the only attempt was probed because it had gone quiet. */
    let probedAt: number | undefined;
    while (running.size > 0) {
      let settled: Attempt;
      if (watch) {
        let timer: NodeJS.Timeout | undefined;
        const tick = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, tickMs, undefined)));
        const first = await Promise.race([...running.values(), tick]);
        clearTimeout(timer);
        if (first === undefined) {
          // A node that health checks (or its breaker) have declared down since the read went out will not answer it.
          for (const i of [...running.keys()]) {
            const url = (plan[i] as Candidate).url;
            if (topology.view(url)?.healthy !== false && breakers.state(url) !== 'open') continue;
            running.delete(i);
            lost++;
            lastError = new GeodeError(ErrorCode.NO_QUORUM, `node unavailable: ${url} stopped answering health checks during the read`, { detail: 'NodeUnavailable' });
            lastAnswer = undefined;
            metrics.readRetries.inc();
            probedAt = undefined;
          }
          if (running.size === 0) {
            launch();
            continue;
          }
          // Hedge: a replica whose process does not answer at all (paused, partitioned, wedged) costs two
          // hedge delays, not the time until health checks notice. Quiet for one delay, it is probed;
          // silent through the next as well, the read also goes to the next candidate. A replica that
          // answers the probe is alive and merely slow on this read, which is left to finish there alone.
          if (running.size === 1 && config.readHedgeMs > 0 && next < plan.length) {
            const waiting = plan[running.keys().next().value as number] as Candidate;
            const now = performance.now();
            if (probedAt === undefined) {
              if (client.silentSince(waiting.url, now - config.readHedgeMs)) {
                client.probe(waiting.url);
                probedAt = now;
              }
            } else {
              if (client.silentSince(waiting.url, probedAt)) {
                metrics.readHedges.inc();
                launch();
              }
              probedAt = undefined;
            }
          }
          continue;
        }
        settled = first;
      } else {
        const [only] = running.values();
        settled = await (only as Promise<Attempt>);
      }
      running.delete(settled.i);
      const candidate = plan[settled.i] as Candidate;
      const target: RouteTarget = candidate.leader ? 'leader' : 'replica';
      if (settled.answer === undefined) {
        if (settled.error instanceof StatementTimeout) throw new GeodeError(ErrorCode.TIMEOUT, `the statement ran past its time limit of ${timeoutMs} ms`, { detail: 'StatementOverdue' });
        if (settled.error instanceof NodeFailure && settled.error.reached) lost++;
        lastError = this.unavailable(settled.error);
        lastAnswer = undefined;
        metrics.readRetries.inc();
      } else if (settled.answer.status === 200) {
        this.observe(settled.answer);
        const position = this.readPosition(settled.answer);
        this.remember(request, settled.answer, position);
        return this.finish(settled.answer, kind, target, session, position);
      } else {
        // The statement's own outcome (TIMEOUT, MEMORY_LIMIT, WORK_LIMIT, a type error, ...): the same on every replica.
        if (!aboutTheNode(errorFromWire(errorBody(settled.answer.json)))) return this.finish(settled.answer, kind, target, session, undefined);
        lastAnswer = settled.answer;
        lastError = undefined;
        metrics.readRetries.inc();
      }
      if (running.size === 0) launch();
    }
    const cached = this.cachedRead(request, session);
    if (cached !== undefined) return { status: 200, body: cached, session, kind, target: 'cache', outcome: 'ok' };
    if (lastAnswer !== undefined) return this.finish(lastAnswer, kind, 'replica', session, undefined);
    if (lastError !== undefined) {
      if (lost >= MAX_NODES_PER_READ && next < plan.length) {
        throw new GeodeError(ErrorCode.NO_QUORUM, `the read was in flight on ${lost} nodes that failed under it; it is not sent to more. Last: ${lastError.message}`, {
          detail: 'ReadNodesLost',
          retryable: false,
        });
      }
      throw lastError;
    }
    // Nothing was tried: either no node is reachable at all, or those that are lag past the session's bound.
    if (!this.candidates().some((c) => c.healthy && c.breaker !== 'open')) {
      throw new GeodeError(ErrorCode.NO_QUORUM, 'no storage node is reachable to serve the read', { detail: 'NoNodeReachable' });
    }
    throw new GeodeError(ErrorCode.OVERLOADED, 'no replica within the session lag bound can serve the read', { detail: 'NoReplica' });
  }

  private cacheKey(request: QueryBody): string {
    return `${request.query}\u0000${JSON.stringify(request.params ?? {})}`;
  }

  private remember(request: QueryBody, answer: NodeAnswer, position: Position | undefined): void {
    if (this.results === undefined) return;
    this.results.set(this.cacheKey(request), { text: answer.text, position });
  }

  /** Only when the session accepts stale reads, and never older than what the session has seen. */
  private cachedRead(request: QueryBody, session: Session): string | undefined {
    if (this.results === undefined || (request.consistency !== 'any' && request.consistency !== 'bounded')) return undefined;
    const hit = this.results.get(this.cacheKey(request));
    if (hit === undefined) return undefined;
    const seen = sessionPosition(session);
    if (isPastOrigin(seen) && (hit.position === undefined || comparePositions(hit.position, seen) < 0)) return undefined;
    const body = JSON.parse(hit.text) as Record<string, unknown>;
    return JSON.stringify({ ...body, degraded: true });
  }

  // ---- shared -------------------------------------------------------------------

  private observe(answer: NodeAnswer): void {
    const meta = (answer.json as { meta?: Record<string, unknown> } | null)?.meta;
    if (meta !== undefined) this.options.topology.observeMeta(answer.url, meta);
  }

  /** A node failure as the client would see it if nothing else can serve. */
  private unavailable(error: unknown): GeodeError {
    if (error instanceof BreakerOpen) return new GeodeError(ErrorCode.OVERLOADED, error.message, { detail: 'BreakerOpen' });
    if (error instanceof NodeFailure) return new GeodeError(ErrorCode.NO_QUORUM, `node unavailable: ${error.message}`, { detail: 'NodeUnavailable' });
    throw error;
  }

  /**
   * `position`: what the answer reflects (a write's position, a read's), which raises the session's;
   * `requestId`: a write's, added to its error answer so that the client can resend it safely.
   */
  private finish(answer: NodeAnswer, kind: StatementKind, target: RouteTarget, session: Session, position: Position | undefined, requestId?: string): QueryOutcome {
    let next = session;
    let body = answer.text;
    if (answer.status === 200) {
      if (position !== undefined && comparePositions(position, sessionPosition(session)) > 0) next = withPosition(session, position);
    } else if (requestId !== undefined) {
      const error = errorBody(answer.json);
      if (error !== undefined && error['request_id'] === undefined) body = JSON.stringify({ ...(answer.json as object), error: { ...error, request_id: requestId } });
    }
    return { status: answer.status, body, session: next, kind, target, outcome: answer.errorCode ?? 'ok' };
  }
}

/** The `error` member of a node's error answer. */
function errorBody(json: unknown): Record<string, unknown> | undefined {
  const error = (json as { error?: unknown } | null)?.error;
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : undefined;
}

/** A write answer's position: `meta.index` at `meta.epoch` (absent: 1). */
function writePosition(body: unknown): Position | undefined {
  const index = metaNumber(body, 'index');
  if (index === undefined) return undefined;
  return { epoch: epochOr1((body as { meta?: Record<string, unknown> } | null)?.meta?.['epoch']), index };
}

function metaNumber(body: unknown, key: string): number | undefined {
  const value = (body as { meta?: Record<string, unknown> } | null)?.meta?.[key];
  return typeof value === 'number' ? value : undefined;
}

function emptyStats(): Record<string, number> {
  return {
    nodes_created: 0,
    nodes_deleted: 0,
    relationships_created: 0,
    relationships_deleted: 0,
    properties_set: 0,
    labels_added: 0,
    labels_removed: 0,
    indexes_added: 0,
    indexes_removed: 0,
  };
}
