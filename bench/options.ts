// Command-line options of `npm run bench` (see bench/README.md).
import { parseArgs } from 'node:util';
import { defaultMysqlUrl, defaultPgUrl } from './db.js';

export const workloads = ['bulk', 'small', 'engine'] as const;
export type Workload = (typeof workloads)[number];

export interface Options {
  rows: number;
  rounds: number;
  /** Seconds each small-query measurement runs (pgbench -T, the mysql2 loop). */
  seconds: number;
  only: Set<Workload>;
  json: boolean;
  pgUrl: URL;
  mysqlUrl: URL;
  /** Where results/<date>.json and .svg go. */
  outDir: string;
}

export const usage = `usage: npm run bench -- [options]

  --rows N          rows in bench_pii (default 1000000); reseeded when the count differs
  --rounds N        rounds per measurement, targets interleaved within a round (default 4)
  --seconds S       duration of each small-query measurement (default 2)
  --only LIST       workloads to run, comma-separated: bulk,small,engine (default all; engine: the masking
                    engine alone, no sockets, ~12 s)
  --json            print the results as JSON on stdout instead of the table
  --pg URL          PostgreSQL to bench against (default $PG_URL or postgres://postgres@127.0.0.1:5432/test)
  --mysql URL       MySQL/MariaDB (default $MYSQL_URL or mysql://root@127.0.0.1:3306/test)
  --out DIR         results folder (default bench/results)`;

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

export function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rows: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      pg: { type: 'string' },
      mysql: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const only = new Set<Workload>();
  for (const w of (values.only ?? workloads.join(',')).split(',')) {
    const name = w.trim();
    if (!(workloads as readonly string[]).includes(name)) throw new Error(`--only: expected some of ${workloads.join(', ')}, got ${JSON.stringify(name)}`);
    only.add(name as Workload);
  }
  return {
    rows: positiveInt('rows', values.rows, 1_000_000),
    rounds: positiveInt('rounds', values.rounds, 4),
    seconds: positiveInt('seconds', values.seconds, 2),
    only,
    json: values.json,
    pgUrl: values.pg ? new URL(values.pg) : defaultPgUrl(),
    mysqlUrl: values.mysql ? new URL(values.mysql) : defaultMysqlUrl(),
    outDir: values.out ?? 'bench/results',
  };
}
