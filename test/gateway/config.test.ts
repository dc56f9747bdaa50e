import t from 'tap';
import { parseGatewayConfig } from '../../gateway/config.js';

const base = {
  session_secret: 's'.repeat(32),
  regions: { 'us-east': { lat: 39, lon: -77, role: 'primary', nodes: ['http://127.0.0.1:3151', '127.0.0.1:3152/'] } },
};

t.test('a minimal config gets the documented defaults and normalized node URLs', async (t) => {
  const config = parseGatewayConfig(base, 'test', {});
  t.equal(config.maxReplicationLagMs, 1000);
  t.equal(config.writeHoldMs, 2000);
  t.equal(config.writeQueue, 1000);
  t.same(config.regions[0]?.nodes, ['http://127.0.0.1:3151', 'http://127.0.0.1:3152']);
  t.same(config.listen, { host: '127.0.0.1', port: 3141 });
  t.equal(config.readYourWrites, true, 'read-your-writes is on by default');
  t.equal(parseGatewayConfig({ ...base, read_your_writes: false }, 'test', {}).readYourWrites, false);
});

t.test('every bad key is named in one error', async (t) => {
  const error = t.throws(() =>
    parseGatewayConfig(
      {
        ...base,
        listen: 'nowhere',
        region: 'mars',
        write_hold_ms: -1,
        trusted_proxies: ['10.0.0.0/99'],
        query_cache: { enabled: 'yes' },
        regions: { 'us-east': { lat: 200, lon: 0, role: 'primary', nodes: ['ftp://x'] } },
        surprise: 1,
        read_your_writes: 'yes',
      },
      'gw.yaml',
      {},
    ),
  ) as Error;
  for (const key of ['listen', 'region', 'write_hold_ms', 'trusted_proxies[0]', 'query_cache.enabled', 'regions.us-east.lat', 'regions.us-east.nodes[0]', 'surprise', 'read_your_writes']) {
    t.match(error.message, `${key}:`, `names ${key}`);
  }
});

t.test('a missing session secret is refused', async (t) => {
  t.throws(() => parseGatewayConfig({ regions: base.regions }, 'test', {}), /session_secret/);
  t.equal(parseGatewayConfig({ regions: base.regions }, 'test', { GEODE_SESSION_SECRET: 'e'.repeat(20) }).sessionSecret, 'e'.repeat(20));
});
