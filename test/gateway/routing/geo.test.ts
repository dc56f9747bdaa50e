import t from 'tap';
import { clientAddress, distanceKm, locate, nearestRegion, trustedProxyList } from '../../../gateway/routing/geo.js';

t.test('X-Forwarded-For is believed only from a trusted peer', async (t) => {
  const trusted = trustedProxyList(['127.0.0.1', '10.0.0.0/8']);
  t.equal(clientAddress('127.0.0.1', '8.8.8.8', trusted), '8.8.8.8');
  t.equal(clientAddress('::ffff:127.0.0.1', '8.8.8.8, 10.1.2.3', trusted), '8.8.8.8', 'trusted hops are skipped from the right');
  t.equal(clientAddress('192.0.2.7', '8.8.8.8', trusted), '192.0.2.7', 'an untrusted peer cannot claim an address');
  t.equal(clientAddress('127.0.0.1', 'garbage', trusted), '127.0.0.1');
  t.equal(clientAddress('127.0.0.1', undefined, trusted), '127.0.0.1');
});

t.test('addresses on two continents map to their nearest configured region', async (t) => {
  const regions = [
    { name: 'us-east', lat: 39, lon: -77 },
    { name: 'eu-west', lat: 53.3, lon: -6.3 },
  ];
  const us = locate('8.8.8.8');
  const gb = locate('81.2.69.142');
  t.ok(us && gb, 'geoip-lite knows both');
  t.equal(nearestRegion(us!, regions)?.name, 'us-east');
  t.equal(nearestRegion(gb!, regions)?.name, 'eu-west');
  t.equal(locate('127.0.0.1'), undefined);
  t.ok(Math.abs(distanceKm({ lat: 51.5, lon: -0.1 }, { lat: 40.7, lon: -74 }) - 5570) < 50, 'London-New York is about 5570 km');
});
