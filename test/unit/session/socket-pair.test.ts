// The socket pair on real loopback sockets: back-pressure on one side pauses the other, a close of one side
// closes the other, and writes to a closed side go nowhere.
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { SocketPair, type PairEvents } from '../../../src/session/socket-pair.js';

/** Both ends of one loopback TCP connection: `near` is the proxy's, `far` the peer's. */
async function connection(farHalfOpen = false): Promise<{ near: net.Socket; far: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const far = net.connect({ port, host: '127.0.0.1', allowHalfOpen: farHalfOpen });
  const near = await accepted;
  await new Promise<void>((r) => (far.connecting ? far.once('connect', () => r()) : r()));
  server.close();
  return { near, far };
}

const open: net.Socket[] = [];

afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

interface Setup {
  pair: SocketPair;
  events: PairEvents & { stopClient: boolean; stopUpstream: boolean; received: { client: Buffer[]; upstream: Buffer[] } };
  client: net.Socket;
  server: net.Socket;
  bothClosed: Promise<void>;
}

/**
 * A pair between a client and a server, both far ends in the test's hands; the upstream closing closes the
 * client. A half-open server keeps its side open after the client's end until the test ends it.
 */
async function setup(serverHalfOpen = false): Promise<Setup> {
  const c = await connection();
  const u = await connection(serverHalfOpen);
  open.push(c.near, c.far, u.near, u.far);
  let closed!: () => void;
  const bothClosed = new Promise<void>((r) => (closed = r));
  const events = {
    stopClient: false,
    stopUpstream: false,
    received: { client: [] as Buffer[], upstream: [] as Buffer[] },
    clientData: (chunk: Buffer) => void events.received.client.push(chunk),
    upstreamData: (chunk: Buffer) => void events.received.upstream.push(chunk),
    clientStopped: () => events.stopClient,
    upstreamStopped: () => events.stopUpstream,
    clientClosed: vi.fn(),
    upstreamClosed: vi.fn((hadError: boolean) => pair.closeClientLike(hadError)),
    bothClosed: vi.fn(() => closed()),
  };
  const pair = new SocketPair(c.near, events, createLogger('silent'));
  pair.attachUpstream(u.near);
  return { pair, events, client: c.far, server: u.far, bothClosed };
}

function closedEvent(socket: net.Socket): Promise<void> {
  return new Promise((r) => (socket.destroyed && socket.closed ? r() : socket.once('close', () => r())));
}

describe('SocketPair', () => {
  it('hands each side its chunks', async () => {
    const { events, client, server } = await setup();
    client.write('from the client');
    server.write('from the server');
    await vi.waitFor(() => expect(events.received.client.length * events.received.upstream.length).toBeGreaterThan(0));
    expect(Buffer.concat(events.received.client).toString()).toBe('from the client');
    expect(Buffer.concat(events.received.upstream).toString()).toBe('from the server');
  });

  it('pauses the server while the client is not draining, and resumes it on drain', async () => {
    const { pair, client } = await setup();
    client.pause();
    const big = Buffer.alloc(1024 * 1024, 1);
    // Writes until the socket's buffer is over its mark: the kernel's buffers fill first.
    for (let i = 0; i < 64 && pair.client.writableNeedDrain === false; i++) pair.writeClient(big);
    expect(pair.client.writableNeedDrain).toBe(true);
    expect(pair.upstream!.isPaused()).toBe(true);
    expect(pair.client.isPaused()).toBe(false);
    client.resume();
    await vi.waitFor(() => expect(pair.upstream!.isPaused()).toBe(false));
  });

  it('pauses the client while the server is not draining', async () => {
    const { pair, server } = await setup();
    server.pause();
    const big = Buffer.alloc(1024 * 1024, 2);
    for (let i = 0; i < 64 && pair.upstream!.writableNeedDrain === false; i++) pair.writeUpstream(big);
    expect(pair.client.isPaused()).toBe(true);
    server.resume();
    await vi.waitFor(() => expect(pair.client.isPaused()).toBe(false));
  });

  it('does not read a side the session has stopped', async () => {
    const { pair, events } = await setup();
    events.stopClient = true;
    pair.updateFlow();
    expect(pair.client.isPaused()).toBe(true);
    expect(pair.upstream!.isPaused()).toBe(false);
    events.stopClient = false;
    events.stopUpstream = true;
    pair.updateFlow();
    expect(pair.client.isPaused()).toBe(false);
    expect(pair.upstream!.isPaused()).toBe(true);
  });

  it('ends the server when the client closes, then reports both closed', async () => {
    const { pair, events, client, server, bothClosed } = await setup();
    const serverEnded = new Promise<void>((r) => server.once('end', () => r()));
    server.resume();
    client.end();
    await serverEnded;
    server.end();
    await bothClosed;
    expect(events.clientClosed).toHaveBeenCalledWith(false);
    expect(events.upstreamClosed).not.toHaveBeenCalled();
    expect(events.bothClosed).toHaveBeenCalledTimes(1);
    expect(pair.clientOpen || pair.upstreamOpen).toBe(false);
    await pair.closed;
    expect(pair.signal.aborted).toBe(true);
  });

  it('is not closed while one side is still open', async () => {
    const { pair, events, client, server, bothClosed } = await setup(true);
    const serverEnded = new Promise<void>((r) => server.once('end', () => r()));
    server.resume();
    client.end();
    await serverEnded;
    expect(pair.clientOpen).toBe(false);
    expect(pair.upstreamOpen).toBe(true);
    expect(pair.signal.aborted).toBe(false);
    expect(events.bothClosed).not.toHaveBeenCalled();
    server.end();
    await bothClosed;
    expect(pair.signal.aborted).toBe(true);
  });

  it('resets the server when the client resets', async () => {
    const { client, server, bothClosed } = await setup();
    const serverError = new Promise<NodeJS.ErrnoException>((r) => server.once('error', r));
    client.resetAndDestroy();
    expect((await serverError).code).toBe('ECONNRESET');
    await bothClosed;
  });

  it('lets the session close the client when the server closes', async () => {
    const { events, client, server, bothClosed } = await setup();
    const clientEnded = new Promise<void>((r) => client.once('end', () => r()));
    client.resume();
    server.end();
    await clientEnded;
    expect(events.upstreamClosed).toHaveBeenCalledWith(false);
    client.end();
    await bothClosed;
    expect(events.bothClosed).toHaveBeenCalledTimes(1);
  });

  it('drops writes to a side that is closed', async () => {
    const { pair, client, server, bothClosed } = await setup();
    const toClient = vi.spyOn(pair.client, 'write');
    const toServer = vi.spyOn(pair.upstream!, 'write');
    server.resume();
    client.destroy();
    await bothClosed;
    await closedEvent(pair.client);
    pair.writeClient(Buffer.from('late'));
    pair.writeUpstream(Buffer.from('late'));
    expect(toClient).not.toHaveBeenCalled();
    expect(toServer).not.toHaveBeenCalled();
  });

  it('stops relaying a detached socket: no more data or close from it', async () => {
    const { pair, events, server } = await setup();
    const upstream = pair.upstream!;
    pair.detach(upstream);
    expect(pair.upstreamOpen).toBe(false);
    expect(upstream.isPaused()).toBe(true);
    pair.writeUpstream(Buffer.from('dropped'));
    expect(upstream.bytesWritten).toBe(0);
    server.end('ignored');
    upstream.resume();
    await closedEvent(upstream);
    expect(events.received.upstream).toEqual([]);
    expect(events.upstreamClosed).not.toHaveBeenCalled();
  });
});
