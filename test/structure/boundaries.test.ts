/**
 * The part boundaries of ARCHITECTURE.md are checked by `npm run lint` (eslint-plugin-boundaries,
 * eslint.config.js). This shows the rule bites: imports that cross a boundary, linted as if they
 * were in the tree, are errors; the allowed direction is not.
 */
import { ESLint } from 'eslint';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../packaging/dev-stack/stack.ts';

const eslint = new ESLint({ cwd: repoRoot });

async function boundaryErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(repoRoot, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'boundaries/dependencies').map((m) => m.message);
}

describe('part boundaries (npm run lint)', () => {
  it.each([
    ['src/buffer/extra.ts', "import type { Forwarder } from '../forward/forwarder.ts';\nexport type F = Forwarder;\n", 'buffer', 'forward'],
    ['src/forward/extra.ts', "import type { MqttInput } from '../inputs/mqtt/input.ts';\nexport type M = MqttInput;\n", 'forward', 'inputs'],
    ['src/config/extra.ts', "import type { MqttInput } from '../inputs/mqtt/input.ts';\nexport type M = MqttInput;\n", 'config', 'inputs'],
    ['firmware-adapters/extra.ts', "import type { RecordBuffer } from '../src/buffer/index.ts';\nexport type B = RecordBuffer;\n", 'adapters', 'buffer'],
    ['src/inputs/extra.ts', "import type { Daemon } from '../daemon.ts';\nexport type D = Daemon;\n", 'inputs', 'root'],
    // central/ shares only src/record and lib/ with the edge, and its services stay apart.
    ['central/src/bridge/extra.ts', "import type { RecordBuffer } from '../../../src/buffer/index.ts';\nexport type B = RecordBuffer;\n", 'central-bridge', 'buffer'],
    ['central/src/registry/extra.ts', "import type { TopicBridge } from '../bridge/topic.ts';\nexport type T = TopicBridge;\n", 'central-registry', 'central-bridge'],
    ['src/forward/extra.ts', "import type { KafkaLog } from '../../central/src/kafka/index.ts';\nexport type K = KafkaLog;\n", 'forward', 'central-kafka'],
    // The control plane never imports the data path, and the edge's control part sees only the record contract.
    ['central/src/governance/extra.ts', "import type { TopicBridge } from '../bridge/topic.ts';\nexport type T = TopicBridge;\n", 'central-governance', 'central-bridge'],
    ['central/src/governance/extra.ts', "import type { PulsarAdmin } from '../pulsar/consumer.ts';\nexport type P = PulsarAdmin;\n", 'central-governance', 'central-pulsar'],
    ['src/control/extra.ts', "import type { Daemon } from '../daemon.ts';\nexport type D = Daemon;\n", 'control', 'root'],
    ['src/control/extra.ts', "import type { Forwarder } from '../forward/forwarder.ts';\nexport type F = Forwarder;\n", 'control', 'forward'],
  ])('%s may not import %s', async (file, source, from, to) => {
    const errors = await boundaryErrors(file, source);
    expect(errors.join('\n')).toMatch(new RegExp(`from elements of type "${from}" to elements of type "${to}"`));
  });

  it('allows what the architecture allows: inputs -> buffer, config -> input schemas, root -> anything, central bridge -> record', async () => {
    expect(await boundaryErrors('src/inputs/extra.ts', "import type { Committed } from '../buffer/index.ts';\nexport type C = Committed;\n")).toEqual([]);
    expect(await boundaryErrors('src/config/extra.ts', "import * as s from '../inputs/schemas.ts';\nexport const x = s;\n")).toEqual([]);
    expect(await boundaryErrors('src/extra.ts', "import type { Forwarder } from './forward/forwarder.ts';\nexport type F = Forwarder;\n")).toEqual([]);
    expect(await boundaryErrors('central/src/bridge/extra.ts', "import type { TelemetryRecord } from '../../../src/record/record.ts';\nexport type R = TelemetryRecord;\n")).toEqual([]);
    expect(await boundaryErrors('central/src/governance/extra.ts', "import type { CommandMessage } from '../../../src/record/command.ts';\nexport type C = CommandMessage;\n")).toEqual([]);
    expect(await boundaryErrors('src/health/extra.ts', "import type { ControlActions } from '../control/actions.ts';\nexport type A = ControlActions;\n")).toEqual([]);
  });
});
