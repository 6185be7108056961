// The baseline any proxy is held against: a plain TCP relay, bytes piped both ways with back-pressure and
// nothing else. Runs in its own process (as sqlwarden does), one listener per upstream given:
//   node relay.js 127.0.0.1:5432 127.0.0.1:3306
// prints {"ports":[p1,p2]} on stdout once listening on 127.0.0.1.
import net from 'node:net';

function relay(upstream: { host: string; port: number }): Promise<number> {
  const server = net.createServer((client) => {
    const server = net.connect(upstream);
    client.setNoDelay(true);
    server.setNoDelay(true);
    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on('error', close).on('close', close);
    server.on('error', close).on('close', close);
    client.pipe(server);
    server.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

const upstreams = process.argv.slice(2).map((text) => {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
});
const ports = await Promise.all(upstreams.map(relay));
process.stdout.write(JSON.stringify({ ports }) + '\n');
