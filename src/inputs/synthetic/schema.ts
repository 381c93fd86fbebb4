/**
 * Options of the `synthetic` input: the built-in demo site (see README.md). Pure data, composed
 * into the configuration schema through src/inputs/schemas.ts; it does not load the input.
 */
import { defineInputSchema } from '../../config/forms.ts';

/** A `synthetic` input as validated (defaults filled). */
export interface SyntheticInputSettings {
  type: 'synthetic';
  name: string;
  profile: 'small';
  rateScale: number;
}

export default defineInputSchema<SyntheticInputSettings>({
  type: 'synthetic',
  options: {
    description: 'Built-in synthetic instruments (JSON readings at realistic rates) for demos, before any real instrument is wired.',
    properties: {
      profile: { type: 'string', enum: ['small'], default: 'small' },
      rateScale: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Multiplies every instrument rate.' },
    },
  },
});
