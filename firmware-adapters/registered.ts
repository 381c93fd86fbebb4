/**
 * The registry: one line per adapter. A new adapter is its folder under firmware-adapters/
 * (adapter.ts with a default-exported AdapterDefinition, sample.yaml, README.md, fixtures/, tests)
 * plus one line here. The export name is only local; the registry keys on the definition's name.
 */
export { default as nmea0183 } from './nmea0183/adapter.ts';
export { default as vaisalaWxt } from './vaisala-wxt/adapter.ts';
export { default as gillWindsonic } from './gill-windsonic/adapter.ts';
export { default as boltekLd250 } from './boltek-ld250/adapter.ts';
export { default as unihedronSqm } from './unihedron-sqm/adapter.ts';
export { default as nutUpsd } from './nut-upsd/adapter.ts';
export { default as jsonLines } from './json-lines/adapter.ts';
export { default as csv } from './csv/adapter.ts';
export { default as boltwoodCloud } from './boltwood-cloud/adapter.ts';
export { default as davisVantage } from './davis-vantage/adapter.ts';
