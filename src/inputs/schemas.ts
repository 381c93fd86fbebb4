/**
 * The registry of input option schemas: one line per transport. A new transport is its folder
 * under src/inputs/ (input.ts, schema.ts, sample.yaml, README.md) plus one line here and one in
 * src/inputs/index.ts (its factory). The export name is only local: the configuration keys on
 * each schema's `type`.
 *
 * Pure data: the configuration schema, `check-config` and the example generator import this, so
 * neither this file nor a schema.ts may import an input implementation (serialport, mqtt.js);
 * test/config/inputs.test.ts checks it.
 */
export { default as synthetic } from './synthetic/schema.ts';
export { default as http } from './http/schema.ts';
export { default as serial } from './serial/schema.ts';
export { default as mqtt } from './mqtt/schema.ts';
export { default as udp } from './udp/schema.ts';
export { default as tcp } from './tcp/schema.ts';
