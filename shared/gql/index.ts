/**
 * The query language front end: `parse` (syntax plus compile-time checks),
 * `classify` (how the gateway routes a statement) and the AST types.
 */
import { syntaxError } from '../protocol/errors.js';
import type { Statement } from './ast.js';
import { parseStatement } from './parser.js';
import { checkStatement } from './semantic.js';

export type * from './ast.js';
export { classify } from './classify.js';
export { collectParameters } from './semantic.js';

/**
 * Parses one statement and runs the compile-time checks. Throws a GeodeError
 * (SYNTAX_ERROR, SEMANTIC_ERROR, TYPE_ERROR or ARGUMENT_ERROR, phase `compile`,
 * with `detail` and `position`).
 */
export function parse(text: string): Statement {
  try {
    const stmt = parseStatement(text);
    checkStatement(stmt);
    return stmt;
  } catch (err) {
    // Recursion depth follows nesting depth; a pathological query must fail as a query error, not a crash.
    if (err instanceof RangeError) throw syntaxError('query is too deeply nested', { offset: 0, line: 1, column: 1 }, 'QueryTooComplex');
    throw err;
  }
}
