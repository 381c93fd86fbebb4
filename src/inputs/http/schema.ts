/**
 * Options of the `http` input: records pushed over the daemon's HTTP server (see README.md).
 * Pure data, composed into the configuration schema through src/inputs/schemas.ts; it does not
 * load the input.
 */
import { bytes, defineInputSchema, type Bytes } from '../../config/forms.ts';

/** An `http` input as validated (defaults filled). */
export interface HttpInputSettings {
  type: 'http';
  name: string;
  token?: string;
  maxRecordsPerRequest: number;
  maxRequestSize: Bytes;
}

export default defineInputSchema<HttpInputSettings>({
  type: 'http',
  options: {
    description: 'Records pushed over HTTP: POST /api/v1/inputs/<name>/records; the response is sent after commit.',
    properties: {
      token: { type: 'string', description: 'Bearer token required from pushers.' },
      maxRecordsPerRequest: { type: 'integer', minimum: 1, maximum: 100000, default: 5000 },
      maxRequestSize: {
        ...bytes,
        default: '8MiB',
        description: 'Largest request body accepted (413 beyond it). The body is parsed on the main thread: keep it small enough not to stall the daemon.',
      },
    },
  },
});
