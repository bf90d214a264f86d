import net from 'node:net';

/**
 * A TCP proxy in front of the database that can play a network fault: `freeze` keeps every connection open but
 * carries nothing (a partition, a failover without a reset), `refuse` turns new connections away and cuts the open
 * ones, `heal` carries everything again.
 */
export class FaultProxy {
  private mode: 'carry' | 'freeze' | 'refuse' = 'carry';
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(host: string, port: number): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = net.createServer((client) => proxy?.connect(client, host, port));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  private connect(client: net.Socket, host: string, port: number): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, host);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      this.sockets.add(from);
      from.on('data', (chunk) => {
        if (this.mode === 'carry') to.write(chunk);
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }

  freeze(): void {
    this.mode = 'freeze';
  }

  refuse(): void {
    this.mode = 'refuse';
    for (const socket of this.sockets) socket.destroy();
  }

  heal(): void {
    this.mode = 'carry';
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
