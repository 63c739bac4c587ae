// Problems with input that vigil reports and then goes on: a bad line, a truncated gzip, a file
// that shrank. Each names where (file, line or byte offset, field) and what was wrong.

export interface InputIssue {
  /** Component that found it (`zeek`, `config`, ...). */
  component: string;
  /** File path (or `-` for standard input). */
  file?: string;
  /** 1-based line number, for line-oriented input. */
  line?: number;
  /** Byte offset in the (decompressed) input. */
  offset?: number;
  /** Field name or path (`id.orig_p`, `detectors.baseline.zThreshold`). */
  field?: string;
  /** What was wrong, in plain words. */
  message: string;
}

export type IssueHandler = (issue: InputIssue) => void;

export function formatIssue(i: InputIssue): string {
  let where = i.file ?? i.component;
  if (i.line !== undefined) where += `:${i.line}`;
  else if (i.offset !== undefined) where += `@${i.offset}`;
  if (i.field) where += ` (${i.field})`;
  return `${where}: ${i.message}`;
}

/**
 * Keeps the first `limit` issues verbatim (so a flood of bad lines cannot grow memory) and
 * counts the rest.
 */
export class IssueLog {
  readonly kept: InputIssue[] = [];
  total = 0;
  constructor(
    private readonly limit = 100,
    private readonly forward?: IssueHandler,
  ) {}
  readonly report: IssueHandler = (issue) => {
    this.total++;
    if (this.kept.length < this.limit) this.kept.push(issue);
    this.forward?.(issue);
  };
}

/** A file-system or stream error in the words an operator expects ("no such file", ...). */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ENOENT') return 'no such file';
    if (e.code === 'EACCES') return 'permission denied';
    if (e.code === 'EISDIR') return 'is a directory';
    if (e.message) return e.code ? `${e.message} (${e.code})` : e.message;
  }
  return String(err);
}
