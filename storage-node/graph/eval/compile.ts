import type { Expr } from '../../../shared/gql/ast.js';
import type { CompiledExpr } from './index.js';
export function compileExpression(expr: Expr): CompiledExpr {
  throw new Error(`compileExpression not implemented yet (${expr.kind})`);
}
