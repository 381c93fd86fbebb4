/**
 * Canonical units (UCUM codes) and conversions into them. Converted values are rounded to a
 * fixed number of decimals well below each instrument's resolution, so that 68.3 °F reads
 * 20.16667 Cel rather than 20.166666666666668.
 */
export const UCUM = {
  celsius: 'Cel',
  hectopascal: 'hPa',
  metrePerSecond: 'm/s',
  percent: '%',
  millimetre: 'mm',
  millimetrePerHour: 'mm/h',
  degree: 'deg',
  volt: 'V',
  ampere: 'A',
  watt: 'W',
  voltAmpere: 'V.A',
  wattPerSquareMetre: 'W/m2',
  second: 's',
  metre: 'm',
  kilometre: 'km',
  hertz: 'Hz',
  perMinute: '1/min',
  centibar: 'cbar',
  /** Sky brightness: UCUM has no magnitude unit, so an annotation (mag/arcsec², "mpsas"). */
  magPerSquareArcsecond: '{mag/arcsec2}',
  uvIndex: '{UV_index}',
  hailPerSquareCentimetre: '{hits}/cm2',
  hailPerSquareCentimetreHour: '{hits}/(cm2.h)',
  leafWetness: '{leaf_wetness}',
} as const;

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  const r = Math.round(value * f) / f;
  return Object.is(r, -0) ? 0 : r;
}

export const fahrenheitToCelsius = (f: number): number => round(((f - 32) * 5) / 9, 5);
export const mphToMetresPerSecond = (v: number): number => round(v * 0.44704, 5);
export const kmhToMetresPerSecond = (v: number): number => round(v / 3.6, 5);
export const knotsToMetresPerSecond = (v: number): number => round((v * 1852) / 3600, 5);
export const feetPerMinuteToMetresPerSecond = (v: number): number => round(v * 0.00508, 5);
/** Conventional inch of mercury (at 0 °C): 3386.389 Pa. */
export const inHgToHectopascal = (v: number): number => round(v * 33.86389, 4);
/** Conventional millimetre of mercury: 133.322387415 Pa. */
export const mmHgToHectopascal = (v: number): number => round(v * 1.33322387415, 4);
export const inchesToMillimetres = (v: number): number => round(v * 25.4, 4);
export const milesToKilometres = (v: number): number => round(v * 1.609344, 4);
