/**
 * Push input over the daemon's HTTP server: scripts and instruments with an HTTP client POST
 * batches of readings, and the response is the acknowledgement — it is sent only after every
 * record in the batch is durably committed, with the sequence each was given.
 *
 *   POST /api/v1/inputs/<name>/records
 *   {"records": [{"stream": "dome/status", "payload": "{...}", "encoding": "utf8", "sourceTime": 1732660000000}]}
 *   200 {"committed": [{"stream": "dome/status", "sequence": 42}]}
 *
 * A request commits whole or not at all (one buffer transaction): a refusal (503 with the
 * reason, 413 for a record the forwarding transport could not carry or a body over
 * `maxRequestSize`) leaves nothing committed, so a client that retries the request cannot
 * commit any of its records twice.
 */
import type { Input, InputContext, InputStatus } from '../input.ts';
import { InputStatusTracker } from '../input.ts';

export interface HttpInputConfig {
  name: string;
  token?: string;
  maxRecordsPerRequest: number;
  /** Largest request body, in bytes (the server answers 413 beyond it, before parsing). */
  maxRequestBytes: number;
}

export interface PushedRecord {
  stream: string;
  payload: string;
  encoding?: 'utf8' | 'base64';
  contentType?: string;
  schemaRef?: string;
  sourceTime?: number;
  traceparent?: string;
}

export interface RouteRegistry {
  post(
    path: string,
    handler: (request: { body: unknown; headers: Record<string, string | string[] | undefined> }) => Promise<{ status: number; body: unknown }>,
    options?: { bodyLimit?: number },
  ): void;
}

const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$/;

export class HttpInput implements Input {
  readonly type = 'http';
  readonly name: string;
  private readonly tracker: InputStatusTracker;
  private running = false;

  constructor(
    private readonly config: HttpInputConfig,
    private readonly context: InputContext & { routes: RouteRegistry },
  ) {
    this.name = config.name;
    this.tracker = new InputStatusTracker(config.name, this.type);
    context.routes.post(`/api/v1/inputs/${config.name}/records`, (request) => this.handle(request), { bodyLimit: config.maxRequestBytes });
  }

  async start(): Promise<void> {
    this.running = true;
    this.tracker.setState('running');
  }

  async stop(): Promise<void> {
    this.running = false;
    this.tracker.setState('stopped');
  }

  status(): InputStatus {
    return this.tracker.snapshot();
  }

  private async handle(request: { body: unknown; headers: Record<string, string | string[] | undefined> }): Promise<{ status: number; body: unknown }> {
    if (!this.running) return { status: 503, body: { error: { code: 'SKY_ERR_INPUT_STOPPED', message: `input ${this.name} is not running` } } };
    if (this.config.token !== undefined && request.headers.authorization !== `Bearer ${this.config.token}`) {
      return { status: 401, body: { error: { code: 'SKY_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' } } };
    }
    const records = (request.body as { records?: unknown } | null)?.records;
    if (!Array.isArray(records) || records.length === 0) {
      return { status: 400, body: { error: { code: 'SKY_ERR_BAD_REQUEST', message: 'body must be {"records": [ ... ]} with at least one record' } } };
    }
    if (records.length > this.config.maxRecordsPerRequest) {
      return { status: 413, body: { error: { code: 'SKY_ERR_BAD_REQUEST', message: `at most ${this.config.maxRecordsPerRequest} records per request` } } };
    }
    const problems: string[] = [];
    records.forEach((r: PushedRecord, i) => {
      if (typeof r?.stream !== 'string' || !STREAM_NAME.test(r.stream)) problems.push(`records[${i}].stream: expected a stream name like "weather/wxt536"`);
      if (typeof r?.payload !== 'string') problems.push(`records[${i}].payload: expected a string`);
      if (r?.encoding !== undefined && r.encoding !== 'utf8' && r.encoding !== 'base64') problems.push(`records[${i}].encoding: expected "utf8" or "base64"`);
      if (r?.sourceTime !== undefined && !Number.isSafeInteger(r.sourceTime)) problems.push(`records[${i}].sourceTime: expected ms since epoch`);
    });
    if (problems.length > 0) return { status: 400, body: { error: { code: 'SKY_ERR_BAD_REQUEST', message: problems.join('; ') } } };

    this.tracker.received(records.length);
    try {
      const committed = await this.context.sink.appendBatch(
        (records as PushedRecord[]).map((r) => ({
          stream: r.stream,
          payload: Buffer.from(r.payload, r.encoding ?? 'utf8'),
          contentType: r.contentType ?? 'application/octet-stream',
          schemaRef: r.schemaRef ?? null,
          sourceTime: r.sourceTime ?? null,
          ...(r.traceparent === undefined ? {} : { traceparent: r.traceparent }),
        })),
      );
      this.tracker.committed(committed.length);
      return { status: 200, body: { committed: committed.map((c) => ({ stream: c.stream, sequence: c.sequence })) } };
    } catch (error) {
      this.tracker.rejected(records.length);
      const code = (error as { code?: string }).code ?? 'SKY_ERR_INTERNAL';
      // Nothing of the request was committed: the client may retry it whole.
      const status = code === 'SKY_ERR_RECORD_TOO_LARGE' ? 413 : code === 'SKY_ERR_USAGE' ? 400 : 503;
      return { status, body: { error: { code, message: (error as Error).message }, committed: [] } };
    }
  }
}
