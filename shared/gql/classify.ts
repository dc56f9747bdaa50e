/** Tells how the gateway routes a statement (see StatementKind in ast.ts). */
import type { Clause, Statement, StatementKind } from './ast.js';

const WRITE_CLAUSES: ReadonlySet<Clause['kind']> = new Set(['Create', 'Merge', 'Set', 'Remove', 'Delete']);

export function classify(stmt: Statement): StatementKind {
  switch (stmt.kind) {
    case 'Query':
      for (const part of stmt.parts) {
        for (const clause of part.clauses) if (WRITE_CLAUSES.has(clause.kind)) return 'write';
      }
      return 'read';
    case 'CreateIndex':
    case 'DropIndex':
    case 'AlterGraphAddProperty':
      return 'schema';
    case 'SessionSet':
      return 'session';
    case 'ClusterSet':
      return 'cluster';
    case 'SystemSelect':
      return 'admin';
  }
}
