/**
 * The control plane's RabbitMQ topology, declared by the governance service at start (and again
 * after every reconnect, by its consumers); names from the shared contract (src/record/command.ts):
 *
 *                                      routing key = site id
 *   skyhaul.control.commands (direct) ─────────────────────▶ skyhaul.control.site.<site>   quorum, one per site
 *                                                              │ x-dead-letter-exchange, at-least-once,
 *                                                              │ x-delivery-limit, x-max-length (reject-publish);
 *                                                              │ per-message TTL set by the publisher (expiration)
 *                                                              ▼ expired | rejected | delivery_limit
 *   skyhaul.control.dlx (fanout) ───────────────────────────▶ skyhaul.control.dead          quorum
 *
 *                                      routing keys result, report
 *   skyhaul.control.results (direct) ──────────────────────▶ skyhaul.control.results       quorum (x-delivery-limit)
 *
 * Why these arguments (RabbitMQ "Quorum Queues", "Dead Letter Exchanges", "Time-To-Live and
 * Expiration", all supported for quorum queues from 3.10):
 *  - quorum: replicated and durable (Raft), the queue type for data that must not be lost; a
 *    single node in the dev stack, three in production.
 *  - `x-dead-letter-strategy: at-least-once` (3.10+, needs `x-overflow: reject-publish`): a
 *    dead-lettered command is kept until the dead-letter queue confirmed it, so an expiry is never
 *    lost before the governance service audits it.
 *  - `x-delivery-limit`: a command delivered that many times without an ack (it crashes the
 *    consumer) is dead-lettered with reason `delivery_limit` instead of looping.
 *  - `x-max-length` with reject-publish: a site that is away for long cannot pile up commands
 *    without bound; the next publish is nacked and the operator told the queue is full.
 *  - per-message TTL (the `expiration` property) rather than `x-message-ttl`: each command has its
 *    own (`ttl` in the request, default `governance.commandTtl`).
 *
 * Re-declaring a queue with other arguments fails (PRECONDITION_FAILED): the error says which
 * queue and that its arguments differ, and the service does not start; changing them needs the
 * queue deleted (or a policy), which is an operator's decision, not the service's.
 */
import type { Connection } from 'rabbitmq-client';
import { siteQueue, TOPOLOGY } from '../../../src/record/command.ts';

export interface TopologyOptions {
  sites: string[];
  deliveryLimit: number;
  maxQueueLength: number;
}

type QueueArguments = Record<string, string | number>;

/** The arguments of a site's command queue. */
export function siteQueueArguments(options: Pick<TopologyOptions, 'deliveryLimit' | 'maxQueueLength'>): QueueArguments {
  return {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': TOPOLOGY.deadLetterExchange,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
    'x-delivery-limit': options.deliveryLimit,
    'x-max-length': options.maxQueueLength,
  };
}

/** The results queue: quorum, with a delivery limit; what it cannot handle is dead-lettered and audited. */
export function resultsQueueArguments(options: Pick<TopologyOptions, 'deliveryLimit'>): QueueArguments {
  return {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': TOPOLOGY.deadLetterExchange,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
    'x-delivery-limit': options.deliveryLimit,
  };
}

export const DEAD_QUEUE_ARGUMENTS: QueueArguments = { 'x-queue-type': 'quorum' };

/** Declares everything (idempotent). Throws an Error naming the queue whose existing arguments differ. */
export async function declareTopology(rabbit: Connection, options: TopologyOptions): Promise<string[]> {
  const declared: string[] = [];
  const queue = async (name: string, args: QueueArguments): Promise<void> => {
    try {
      await rabbit.queueDeclare({ queue: name, durable: true, arguments: args });
    } catch (error) {
      const text = (error as Error).message;
      if (/PRECONDITION_FAILED|inequivalent arg/i.test(`${(error as { code?: string }).code ?? ''} ${text}`)) {
        throw new Error(`queue ${name} exists with other arguments than this configuration's (${JSON.stringify(args)}): ${text}. Delete it (its messages go with it) or align the configuration`, { cause: error });
      }
      throw error;
    }
    declared.push(`queue ${name}`);
  };
  await rabbit.exchangeDeclare({ exchange: TOPOLOGY.commandsExchange, type: 'direct', durable: true });
  await rabbit.exchangeDeclare({ exchange: TOPOLOGY.resultsExchange, type: 'direct', durable: true });
  await rabbit.exchangeDeclare({ exchange: TOPOLOGY.deadLetterExchange, type: 'fanout', durable: true });
  declared.push(`exchange ${TOPOLOGY.commandsExchange}`, `exchange ${TOPOLOGY.resultsExchange}`, `exchange ${TOPOLOGY.deadLetterExchange}`);
  await queue(TOPOLOGY.deadLetterQueue, DEAD_QUEUE_ARGUMENTS);
  await rabbit.queueBind({ queue: TOPOLOGY.deadLetterQueue, exchange: TOPOLOGY.deadLetterExchange, routingKey: '' });
  await queue(TOPOLOGY.resultsQueue, resultsQueueArguments(options));
  for (const key of [TOPOLOGY.resultKey, TOPOLOGY.reportKey]) await rabbit.queueBind({ queue: TOPOLOGY.resultsQueue, exchange: TOPOLOGY.resultsExchange, routingKey: key });
  for (const site of options.sites) {
    await queue(siteQueue(site), siteQueueArguments(options));
    await rabbit.queueBind({ queue: siteQueue(site), exchange: TOPOLOGY.commandsExchange, routingKey: site });
  }
  return declared;
}

/**
 * RabbitMQ permissions (configure, write, read regular expressions; "Access Control") for a site's
 * user: it may read only its own queue and publish only to the results exchange, and declare
 * nothing. What `rabbitmqctl set_permissions -p <vhost> <user> <configure> <write> <read>` takes.
 */
export function sitePermissions(site: string): { configure: string; write: string; read: string } {
  const escape = (name: string): string => name.replace(/[.]/g, '\\.');
  return { configure: '^$', write: `^${escape(TOPOLOGY.resultsExchange)}$`, read: `^${escape(siteQueue(site))}$` };
}
