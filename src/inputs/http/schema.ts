/**
 * Options of the `http` input: records pushed over the daemon's HTTP server (see README.md).
 * Pure data, composed into the configuration schema through src/inputs/schemas.ts; it does not
 * load the input.
 */
import { defineInputSchema } from '../../config/forms.ts';

/** An `http` input as validated (defaults filled). */
export interface HttpInputSettings {
  type: 'http';
  name: string;
  token?: string;
  maxRecordsPerRequest: number;
}

export default defineInputSchema<HttpInputSettings>({
  type: 'http',
  options: {
    description: 'Records pushed over HTTP: POST /api/v1/inputs/<name>/records; the response is sent after commit.',
    properties: {
      token: { type: 'string', description: 'Bearer token required from pushers.' },
      maxRecordsPerRequest: { type: 'integer', minimum: 1, maximum: 100000, default: 5000 },
    },
  },
});
