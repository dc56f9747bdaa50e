/** TypeBox wire schemas of the gateway's routes (the query body is the node's). */
import { Type } from 'typebox';
import type { Static } from 'typebox';

export { ConsistencyLevel, QueryRequest } from '../../shared/protocol/query.js';
