// pino JSON lines on stdout; one child logger per session, tagged with its id and listener.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(level: LevelWithSilent = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'sqlwarden' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets that may end up in a logged object never reach the log.
      redact: { paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'key', 'tls.key'], censor: '[redacted]' },
    },
    destination,
  );
}

let nextSessionId = 1;

/** Session ids are short and unique within the process: `s1`, `s2`, ... */
export function sessionLogger(parent: Logger, listener: string, client: string): { id: string; log: Logger } {
  const id = `s${nextSessionId++}`;
  return { id, log: parent.child({ session: id, listener, client }) };
}
