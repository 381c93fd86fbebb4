/**
 * The central site registry: what the data centre knows about each site and its instruments,
 * for enriching curated records (name, location, instrument model and serial). One YAML file
 * (`etl.siteRegistry`), validated like the configuration (lib/schema-config: every problem with
 * file, line and path), re-read on SIGHUP by the ETL.
 *
 *   sites:
 *     - id: cerro-01                     # the edge's site.id
 *       name: Cerro Pachón summit
 *       latitude: -30.2407               # WGS 84 degrees
 *       longitude: -70.7366
 *       elevation_m: 2715                # metres above mean sea level
 *       instruments:
 *         - stream: weather/wxt536       # a stream, or the first segments of streams: the
 *           model: Vaisala WXT536        # longest matching entry describes a stream
 *           serial: N4150123
 *
 * A site that is not in the file is not an error: its records are curated without the metadata
 * (counted), so a new site never stops the pipeline.
 */
import { readFileSync } from 'node:fs';
import { SchemaConfig } from '../../../lib/schema-config/index.ts';

export interface InstrumentInfo {
  stream: string;
  model?: string;
  serial?: string;
  manufacturer?: string;
}

export interface SiteInfo {
  id: string;
  name?: string;
  latitude?: number;
  longitude?: number;
  elevation_m?: number;
  instruments: InstrumentInfo[];
}

const schema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    sites: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' },
          name: { type: 'string' },
          latitude: { type: 'number', minimum: -90, maximum: 90 },
          longitude: { type: 'number', minimum: -180, maximum: 180 },
          elevation_m: { type: 'number' },
          instruments: {
            type: 'array',
            default: [],
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['stream'],
              properties: { stream: { type: 'string', minLength: 1 }, model: { type: 'string' }, serial: { type: 'string' }, manufacturer: { type: 'string' } },
            },
          },
        },
      },
    },
  },
} as const;

const format = new SchemaConfig<{ sites: SiteInfo[] }>(schema, 'SKYHAUL_SITES');

export class SiteRegistry {
  private readonly byId: Map<string, SiteInfo>;

  constructor(sites: SiteInfo[] = []) {
    this.byId = new Map(sites.map((s) => [s.id, s]));
  }

  /** Parses the file's text; throws ConfigProblems (file, line, path) on any mistake, a duplicate id included. */
  static parse(text: string, file: string): SiteRegistry {
    const { data } = format.parse(text, file, {});
    const seen = new Set<string>();
    for (const site of data.sites) {
      if (seen.has(site.id)) throw new Error(`${file}: site '${site.id}' is listed twice`);
      seen.add(site.id);
    }
    return new SiteRegistry(data.sites);
  }

  static load(file: string): SiteRegistry {
    return SiteRegistry.parse(readFileSync(file, 'utf8'), file);
  }

  site(id: string): SiteInfo | undefined {
    return this.byId.get(id);
  }

  /** The instrument entry describing `stream` at `site`: the longest `stream` prefix (whole segments). */
  instrument(site: SiteInfo, stream: string): InstrumentInfo | undefined {
    let best: InstrumentInfo | undefined;
    for (const i of site.instruments) {
      if (stream !== i.stream && !stream.startsWith(`${i.stream}/`)) continue;
      if (best === undefined || i.stream.length > best.stream.length) best = i;
    }
    return best;
  }
}
