/**
 * AMQP URLs (`amqp[s]://user:password@host:port/vhost`, RabbitMQ's URI spec) as the edge's control
 * channel and the central governance service both handle them: the password put in from a
 * separate file, redacted for logs and status, the user name read back. Shared from lib/ because
 * the edge and central share no other code than src/record and lib.
 */

/** The URL with the password put in (rabbitmq-client takes credentials from the URL when there is one); unchanged when `password` is undefined. */
export function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

/** The URL with its password replaced by `***` (for logs and status pages); `(unparsable url)` for a string that is no URL. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}

/** The user name in an AMQP URL ('guest' when none: RabbitMQ's default). */
export function amqpUser(url: string): string {
  return decodeURIComponent(new URL(url).username || 'guest');
}
