import t from 'tap';
import { classify, parse } from '../../../shared/gql/index.js';

t.test('queries that only read are read', async (t) => {
  for (const q of [
    'MATCH (n) RETURN n',
    'UNWIND [1, 2] AS x RETURN x',
    'MATCH (n) WHERE EXISTS { MATCH (n)-->() } RETURN count(*)',
    'CALL db.labels() YIELD label RETURN label',
    'CALL db.labels',
    'RETURN 1 AS a UNION RETURN 2 AS a',
  ]) {
    t.equal(classify(parse(q)), 'read', q);
  }
});

t.test('any updating clause makes a query a write, including in a UNION part', async (t) => {
  for (const q of [
    'CREATE (n)',
    'INSERT (n:A)',
    'MERGE (n:A {id: 1})',
    'MATCH (n) SET n.x = 1',
    'MATCH (n) REMOVE n.x',
    'MATCH (n) DELETE n',
    'MATCH (n) DETACH DELETE n',
    'MATCH (n) NODETACH DELETE n',
    'RETURN 1 AS a UNION ALL CREATE (n) RETURN 2 AS a',
  ]) {
    t.equal(classify(parse(q)), 'write', q);
  }
});

t.test('schema, session, cluster and admin statements', async (t) => {
  t.equal(classify(parse('CREATE INDEX ON :User(email)')), 'schema');
  t.equal(classify(parse('DROP INDEX ON :User(email)')), 'schema');
  t.equal(classify(parse('ALTER GRAPH ADD PROPERTY User.verified BOOLEAN DEFAULT false')), 'schema');
  t.equal(classify(parse('SET SESSION READ PREFERENCE nearest')), 'session');
  t.equal(classify(parse('SET SESSION MAX REPLICATION LAG 100')), 'session');
  t.equal(classify(parse('SET CLUSTER QUORUM SIZE 2')), 'cluster');
  t.equal(classify(parse('SELECT * FROM system.cluster_nodes')), 'admin');
});
