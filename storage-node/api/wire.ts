/**
 * Wire conversions shared by both query backends: JSON parameters in,
 * snake_case stats out.
 */
import { fromJson, toJson } from '../../shared/gql/values.js';
import type { JsonValue, Value, ValueMap } from '../../shared/gql/values.js';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { QueryStats } from '../graph/types.js';
import type { QueryStatsBody } from './schemas.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** JSON parameters as values.ts values; integers beyond 64 bits are refused at the door. */
export function paramsFromJson(json: Record<string, unknown>): ValueMap {
  const params: ValueMap = Object.create(null) as ValueMap;
  for (const [name, item] of Object.entries(json)) {
    const value = fromJson(item);
    checkIntegers(value, `params.${name}`);
    params[name] = value;
  }
  return params;
}

function checkIntegers(value: Value, path: string): void {
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) {
      throw new GeodeError(ErrorCode.BAD_REQUEST, `${path}: integer outside the 64-bit range`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkIntegers(item, `${path}[${index}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value as ValueMap)) checkIntegers(item, `${path}.${key}`);
  }
}

export function rowsToJson(columns: string[], rows: Value[][]): Record<string, JsonValue>[] {
  return rows.map((row) => {
    // No prototype, so a column named `__proto__` is data like any other.
    const out = Object.create(null) as Record<string, JsonValue>;
    columns.forEach((column, index) => {
      out[column] = toJson(row[index] ?? null);
    });
    return out;
  });
}

export function statsToJson(stats: QueryStats): QueryStatsBody {
  return {
    nodes_created: stats.nodesCreated,
    nodes_deleted: stats.nodesDeleted,
    relationships_created: stats.relationshipsCreated,
    relationships_deleted: stats.relationshipsDeleted,
    properties_set: stats.propertiesSet,
    labels_added: stats.labelsAdded,
    labels_removed: stats.labelsRemoved,
    indexes_added: stats.indexesAdded,
    indexes_removed: stats.indexesRemoved,
  };
}
