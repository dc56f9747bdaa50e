/** `SET SESSION ...` applied to a session: the gateway answers these itself. */
import { CONSISTENCY_LEVELS, READ_PREFERENCES } from '../config.js';
import type { Consistency, ReadPreference } from '../config.js';
import type { SessionSetStatement } from '../../shared/gql/ast.js';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { Session } from './token.js';

/** Upper bound on a session lag bound: an hour; anything larger is a typo. */
const MAX_LAG_BOUND_MS = 3_600_000;

export function applySessionSetting(session: Session, statement: SessionSetStatement): Session {
  const { setting, value } = statement;
  const invalid = (expected: string): GeodeError =>
    new GeodeError(ErrorCode.BAD_REQUEST, `SET SESSION ${setting.toUpperCase().replace(/_/g, ' ')}: expected ${expected}, got ${String(value)}`, { detail: 'InvalidSessionSetting' });
  switch (setting) {
    case 'read_preference':
      if (typeof value !== 'string' || !READ_PREFERENCES.includes(value as ReadPreference)) throw invalid(READ_PREFERENCES.join(' | '));
      return { ...session, readPreference: value as ReadPreference };
    case 'consistency':
      if (typeof value !== 'string' || !CONSISTENCY_LEVELS.includes(value as Consistency)) throw invalid(CONSISTENCY_LEVELS.join(' | '));
      return { ...session, consistency: value as Consistency };
    case 'max_replication_lag':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_LAG_BOUND_MS) throw invalid(`an integer number of ms in [0, ${MAX_LAG_BOUND_MS}]`);
      // A lag bound asks for bounded reads unless the session already chose a stronger level.
      return { ...session, maxLagMs: value, consistency: session.consistency === 'any' ? 'bounded' : session.consistency };
  }
}
