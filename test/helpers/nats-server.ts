// The production launcher doubles as the test harness; a killed test run leaves no server behind.
import { killServersOnSignals } from '../../common/local/nats-server-process.js';

export * from '../../common/local/nats-server-process.js';
killServersOnSignals();
