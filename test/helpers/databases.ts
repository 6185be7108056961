// Where the integration tests find their databases: PG_URL / MYSQL_URL, else the local services.
// A database that cannot be reached fails the run (global-setup.ts); nothing is skipped silently.

export const pgUrl = new URL(process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
export const mysqlUrl = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');

export const pg = {
  host: pgUrl.hostname,
  port: Number(pgUrl.port || 5432),
  user: decodeURIComponent(pgUrl.username || 'postgres'),
  password: decodeURIComponent(pgUrl.password) || undefined,
  database: pgUrl.pathname.slice(1) || 'test',
};

export const mysql = {
  host: mysqlUrl.hostname,
  port: Number(mysqlUrl.port || 3306),
  user: decodeURIComponent(mysqlUrl.username || 'root'),
  password: decodeURIComponent(mysqlUrl.password) || '',
  database: mysqlUrl.pathname.slice(1) || 'test',
};
