/** Whether `lowerName` names a scalar or aggregate function this evaluator knows (for UnknownFunction checks). */
export function isKnownFunction(lowerName: string): boolean { void lowerName; return false; }
