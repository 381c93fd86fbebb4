/**
 * One error class for everything Skyhaul raises on purpose, with a stable code (SKY_ERR_*) that
 * logs, metrics and the CLI's exit codes key on, and the original error passed on as `cause`.
 */
export type SkyhaulErrorCode =
  | 'SKY_ERR_CONFIG'
  | 'SKY_ERR_BUFFER_FULL'
  | 'SKY_ERR_BUFFER_CORRUPT'
  /** A file that is not a buffer this build may use: foreign, newer schema, contradictory cursors. Left untouched. */
  | 'SKY_ERR_BUFFER_INCOMPATIBLE'
  /** The buffer file or its directory cannot be read or written (permissions, read-only filesystem, missing file). */
  | 'SKY_ERR_BUFFER_ACCESS'
  | 'SKY_ERR_BUFFER_CLOSED'
  | 'SKY_ERR_DISK_LOW'
  /** A record larger than the forwarding transport can carry, refused at ingest. */
  | 'SKY_ERR_RECORD_TOO_LARGE'
  | 'SKY_ERR_CHECKSUM'
  | 'SKY_ERR_TRANSPORT'
  | 'SKY_ERR_TRANSPORT_UNAVAILABLE'
  | 'SKY_ERR_LINK_DEAD'
  | 'SKY_ERR_SEND_REJECTED'
  | 'SKY_ERR_USAGE';

export class SkyhaulError extends Error {
  readonly code: SkyhaulErrorCode;

  constructor(code: SkyhaulErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SkyhaulError';
    this.code = code;
  }
}

export function isSkyhaulError(error: unknown, code?: SkyhaulErrorCode): error is SkyhaulError {
  return error instanceof SkyhaulError && (code === undefined || error.code === code);
}
