/**
 * Unit normalisation for the curated stream: each reading's values in SI units, named by their
 * UCUM codes (The Unified Code for Units of Measure, https://ucum.org/ucum). The arithmetic and
 * the validation of codes are the UCUM reference implementation's (`@lhncbc/ucum-lhc`, the
 * National Library of Medicine's); what is ours is only the choice of target per unit.
 *
 * Targets: the coherent SI unit of the quantity (K, Pa, m, m/s, s, Hz, W). Kept as declared: %,
 * deg (SI accepts the degree for plane angle; wind directions stay in degrees), units that are
 * already SI, and annotations (`{hits}`, `{mag/arcsec2}`), which have no SI form. A site can add
 * or override targets (`etl.units`). A code UCUM does not know is kept as it came, and counted.
 *
 * Every UCUM conversion is affine (value × a + b): the pair is computed once per (from, to) and
 * cached, so the hot path is one multiply-add.
 */
import ucum from '@lhncbc/ucum-lhc';

/** Declared unit (UCUM) -> SI target (UCUM). */
export const DEFAULT_SI_TARGETS: Readonly<Record<string, string>> = {
  Cel: 'K',
  '[degF]': 'K',
  hPa: 'Pa',
  kPa: 'Pa',
  mbar: 'Pa',
  cbar: 'Pa',
  bar: 'Pa',
  '[in_i\'Hg]': 'Pa',
  mm: 'm',
  cm: 'm',
  km: 'm',
  '[ft_i]': 'm',
  'mm/h': 'm/s',
  'km/h': 'm/s',
  '[kn_i]': 'm/s',
  '[mi_i]/h': 'm/s',
  min: 's',
  h: 's',
  ms: 's',
  '1/min': 'Hz',
  '1/h': 'Hz',
  kW: 'W',
  mW: 'W',
  'V.A': 'W',
};

export interface Normalised {
  value: number;
  unit: string;
}

interface Affine {
  a: number;
  b: number;
  unit: string;
}

export class UnitNormaliser {
  private readonly utils = ucum.UcumLhcUtils.getInstance();
  private readonly targets: Record<string, string>;
  private readonly cache = new Map<string, Affine | null>();

  /** `overrides`: extra or replaced targets; a target equal to its unit keeps that unit as it is. */
  constructor(overrides: Record<string, string> = {}) {
    this.targets = { ...DEFAULT_SI_TARGETS, ...overrides };
  }

  /** Validates every target (at start): throws naming the first pair UCUM cannot convert. */
  check(): void {
    for (const [from, to] of Object.entries(this.targets)) {
      if (from === to) continue;
      const r = this.utils.convertUnitTo(from, 1, to);
      if (r.status !== 'succeeded') throw new Error(`etl.units: cannot convert ${from} to ${to} (UCUM: ${(r.msg ?? []).join('; ')})`);
    }
  }

  /**
   * `value` in `unit` as SI: null when the unit is not one to convert (kept as declared), or when
   * UCUM does not know it (see `isKnown`).
   */
  normalise(value: number, unit: string): Normalised | null {
    const affine = this.affine(unit);
    if (affine === null) return null;
    return { value: value * affine.a + affine.b, unit: affine.unit };
  }

  /** The unit a value in `unit` ends up in (after normalise). */
  targetOf(unit: string): string {
    return this.affine(unit)?.unit ?? unit;
  }

  /** Whether `unit` is a valid UCUM code (annotations such as `{hits}` are). */
  isKnown(unit: string): boolean {
    return this.utils.validateUnitString(unit).status === 'valid';
  }

  private affine(unit: string): Affine | null {
    const cached = this.cache.get(unit);
    if (cached !== undefined) return cached;
    const to = this.targets[unit];
    let affine: Affine | null = null;
    if (to !== undefined && to !== unit) {
      const zero = this.utils.convertUnitTo(unit, 0, to);
      const one = this.utils.convertUnitTo(unit, 1, to);
      if (zero.status === 'succeeded' && one.status === 'succeeded') affine = { a: one.toVal! - zero.toVal!, b: zero.toVal!, unit: to };
    }
    this.cache.set(unit, affine);
    return affine;
  }
}
