// Whether a TCP port can be listened on, checked before minutes of model loading would end in an
// EADDRINUSE stack trace.
import net from 'node:net';
import { ConfigError } from '../common/errors.js';

/** Throws a ConfigError naming the port (and --port) when something already listens there. */
export async function assertPortFree(port: number, host: string, flag = 'port'): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`port ${port} is already in use; stop what is listening there or choose another port with --${flag}`, flag));
      else if (err.code === 'EACCES') reject(new ConfigError(`port ${port} needs privileges this process does not have; choose another port with --${flag}`, flag));
      else reject(err);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}
