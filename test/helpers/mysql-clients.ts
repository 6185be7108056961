// mysql2 connections to the test MariaDB, direct or through a proxy listener, and the schema helpers the
// MySQL integration tests share.
import mysql from 'mysql2/promise';
import { mysql as db } from './databases.js';

export type Conn = mysql.Connection;

export interface ConnectOptions extends Partial<mysql.ConnectionOptions> {
  /** Through this proxy port instead of the server's. */
  via?: number;
}

export function connect(opts: ConnectOptions = {}): Promise<Conn> {
  const { via, ...rest } = opts;
  return mysql.createConnection({
    host: via ? '127.0.0.1' : db.host,
    port: via ?? db.port,
    user: db.user,
    password: db.password,
    database: db.database,
    supportBigNumbers: true,
    bigNumberStrings: true,
    ...rest,
  });
}

/** A connection straight to the server, for setup and for the "direct" side of comparisons. */
export function admin(database = db.database): Promise<Conn> {
  return connect({ database, multipleStatements: true });
}

/** Creates (afresh) a database of the tests' own, so parallel test files never share tables. */
export async function freshDatabase(name: string): Promise<void> {
  const c = await admin();
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await c.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await c.end();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  const c = await admin();
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await c.end();
  }
}

/** Raises the server's max_allowed_packet (new connections see it) so the tests can move 20 MiB values. */
export async function ensureMaxAllowedPacket(bytes: number): Promise<void> {
  const c = await admin();
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT @@global.max_allowed_packet AS v');
    if (Number(rows[0]!.v) < bytes) await c.query(`SET GLOBAL max_allowed_packet = ${bytes}`);
  } finally {
    await c.end();
  }
}

/** What a mysql2 error says, without the stack: to compare the server's error through the proxy and direct. */
export function errorOf(err: unknown): { code?: string; errno?: number; sqlState?: string; sqlMessage?: string } {
  const e = err as { code?: string; errno?: number; sqlState?: string; sqlMessage?: string };
  return { code: e.code, errno: e.errno, sqlState: e.sqlState, sqlMessage: e.sqlMessage };
}

export async function caught(p: Promise<unknown>): Promise<ReturnType<typeof errorOf>> {
  try {
    await p;
  } catch (err) {
    return errorOf(err);
  }
  throw new Error('expected the statement to fail');
}

/** Field metadata mysql2 exposes, minus what legitimately differs between two connections. */
export function fieldsOf(fields: mysql.FieldPacket[] | undefined): unknown[] {
  return (fields ?? []).map((f) => ({
    name: f.name,
    orgName: f.orgName,
    table: f.table,
    orgTable: f.orgTable,
    db: f.db,
    type: f.type,
    flags: f.flags,
    length: f.length,
    decimals: f.decimals,
    charset: f.characterSet,
  }));
}
