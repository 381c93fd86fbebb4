/**
 * The input registry: a new transport is one folder under src/inputs/ plus one line here.
 */
import type { InputConfig } from '../config/types.ts';
import { HttpInput, type RouteRegistry } from './http/input.ts';
import type { Input, InputContext } from './input.ts';
import { SyntheticInput } from './synthetic/input.ts';

type Factory = (config: InputConfig, context: InputContext & { routes: RouteRegistry }) => Input;

const registry: Record<InputConfig['type'], Factory> = {
  synthetic: (config, context) => new SyntheticInput(config as Extract<InputConfig, { type: 'synthetic' }>, context),
  http: (config, context) => new HttpInput(config as Extract<InputConfig, { type: 'http' }>, context),
};

export function createInput(config: InputConfig, context: InputContext & { routes: RouteRegistry }): Input {
  return registry[config.type](config, context);
}

export type { Input, InputContext, InputStatus, RecordSink } from './input.ts';
