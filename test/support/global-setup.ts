/**
 * `npm test` needs the real stack. Reuse services that already answer (a developer's running
 * stack); start the rest, and on teardown stop exactly the services this run started.
 */
import { bundle } from '../../packaging/build.ts';
import { stackDown, stackUp } from '../../packaging/dev-stack/stack.ts';

export default async function setup(): Promise<() => Promise<void>> {
  // Child-process tests run the daemon from the bundle, as it ships.
  await bundle();
  if (process.env.SKYHAUL_TEST_NO_STACK === '1') return async () => {};
  const { started } = await stackUp();
  return async () => {
    if (started.length > 0 && process.env.SKYHAUL_TEST_KEEP_STACK !== '1') await stackDown(started);
  };
}
