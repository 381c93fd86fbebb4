/**
 * `npm run smoke`: the design's smoke test, instrument to data lake (see harness.ts), with a
 * one-screen report.
 *
 * usage: npm run smoke -- [--quick] [--rate-scale X] [--seconds S] [--wan-cut-seconds S] [--bad N] [--out FILE] [--no-build]
 *
 *   default   the observatory profile at its rate (× 1) for 180 s, the WAN cut for 60 s
 *   --quick   × 0.2 for 60 s, the WAN cut for 15 s (what `npm test` runs)
 *
 * Exit status 0 when every good frame is in the lake once, in order within each object, the
 * aggregates agree, the dead-letter topics hold exactly the injected records and the reprocessing
 * runbook re-forms the deleted objects byte for byte; 1 otherwise; 2 on a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Cleanup, log, parseArgsOrExit, prepareRun } from '../bench/util.ts';
import { runSmoke, type SmokeReport } from './harness.ts';

export interface SmokeVerdict {
  passed: boolean;
  problems: string[];
}

/** What must hold for the run to pass; each failure named. */
export function judge(r: SmokeReport): SmokeVerdict {
  const problems: string[] = [];
  const good = r.publishedAtSite === 0 ? 0 : r.archived;
  if (r.duplicates !== 0) problems.push(`${r.duplicates} duplicates in the lake`);
  if (r.missing !== 0) problems.push(`${r.missing} records published at the site missing from the lake (${r.samples.missing.join(', ')}; in the lake but not seen published: ${r.samples.unexpected.join(', ') || 'none'})`);
  if (r.outOfOrderInObjects !== 0) problems.push(`${r.outOfOrderInObjects} objects hold a stream out of order`);
  if (r.aggregates.checked === 0) problems.push('no aggregate to check');
  if (r.aggregates.mismatched !== 0) problems.push(`${r.aggregates.mismatched} of ${r.aggregates.checked} aggregates disagree with the curated records`);
  if (r.deadLetters.bridge !== r.deadLetters.injected) problems.push(`bridge dead-letter topic holds ${r.deadLetters.bridge}, ${r.deadLetters.injected} injected`);
  if (r.deadLetters.etl !== 0) problems.push(`ETL dead-letter topic holds ${r.deadLetters.etl}`);
  if (good === 0) problems.push('nothing archived');
  if (r.curated !== r.archived) problems.push(`${r.curated} curated but ${r.archived} archived`);
  if (!r.reprocess.identical || r.reprocess.reformed !== r.reprocess.deleted || r.reprocess.deleted === 0) problems.push(`reprocessing: ${r.reprocess.deleted} deleted, ${r.reprocess.reformed} re-formed identically, object sets ${r.reprocess.identical ? 'equal' : 'differ'}`);
  if (r.kills.length !== 2) problems.push(`kills: ${r.kills.join(', ')}`);
  return { passed: problems.length === 0, problems };
}

function printReport(r: SmokeReport, v: SmokeVerdict): void {
  const lines = [
    `smoke ${v.passed ? 'PASSED' : 'FAILED'}  site ${r.site}  observatory × ${r.rateScale}, ${r.trafficSeconds.toFixed(0)} s of traffic, WAN cut ${r.wanCutSeconds} s, drain ${r.drainSeconds.toFixed(0)} s`,
    `  sent          ${r.sent} frames from the simulator over ${r.streams} streams (faults on: some are garbage the adapters refuse)`,
    `  edge          ${r.publishedAtSite} published at the site, peak backlog ${r.peakBacklog} (the WAN cut), ${r.udpKernelDrops} UDP kernel drops, drops ${Object.keys(r.drops).length === 0 ? 'none' : JSON.stringify(r.drops)}`,
    `  in Kafka      ${r.inKafka} (raw, read_committed)`,
    `  curated       ${r.curated}`,
    `  archived      ${r.archived} records in ${r.objects} objects`,
    `  dead letters  bridge ${r.deadLetters.bridge}, ETL ${r.deadLetters.etl} (injected ${r.deadLetters.injected})`,
    `  exactly once  duplicates ${r.duplicates}, missing ${r.missing}, out of order in objects ${r.outOfOrderInObjects}`,
    `  aggregates    ${r.aggregates.checked} checked against the curated records, ${r.aggregates.mismatched} disagree`,
    `  kills         ${r.kills.join(', ')}`,
    `  reprocess     ${r.reprocess.deleted} objects deleted, ${r.reprocess.reformed} re-formed byte for byte (${r.reprocess.objectsBefore} -> ${r.reprocess.objectsAfter} keys, objects and manifest entries)`,
    `  latency       edge -> Kafka p50 ${r.edgeToKafkaMs.p50.toFixed(0)} ms, p99 ${r.edgeToKafkaMs.p99.toFixed(0)} ms; edge -> lake p50 ${r.edgeToLakeSeconds.p50.toFixed(1)} s, p99 ${r.edgeToLakeSeconds.p99.toFixed(1)} s (rotation ${r.rotationSeconds} s; includes the WAN cut)`,
    ...(v.problems.length > 0 ? [`  problems      ${v.problems.join('; ')}`] : []),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const args = parseArgsOrExit(process.argv.slice(2), { quick: 'boolean', 'rate-scale': 'number', seconds: 'number', 'wan-cut-seconds': 'number', bad: 'number', out: 'string', 'no-build': 'boolean' }, 'npm run smoke --');
  const quick = args.quick === true;
  const cleanup = new Cleanup();
  try {
    const { dir } = await prepareRun(cleanup, 'skyhaul-smoke-', args['no-build'] !== true);
    const report = await runSmoke({
      rateScale: args['rate-scale'] === undefined ? (quick ? 0.2 : 1) : Number(args['rate-scale']),
      durationMs: (args.seconds === undefined ? (quick ? 60 : 180) : Number(args.seconds)) * 1000,
      wanCutMs: (args['wan-cut-seconds'] === undefined ? (quick ? 15 : 60) : Number(args['wan-cut-seconds'])) * 1000,
      badRecords: args.bad === undefined ? 7 : Number(args.bad),
      dir,
      log,
    });
    const verdict = judge(report);
    printReport(report, verdict);
    if (args.out !== undefined) {
      const out = resolve(String(args.out));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${JSON.stringify({ ...report, ...verdict }, null, 2)}\n`);
      log(`wrote ${out}`);
    }
    return verdict.passed ? 0 : 1;
  } finally {
    await cleanup.run();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`smoke failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(2);
    },
  );
}
