// The production launcher doubles as the test harness.
export * from '../../common/local/nats-server-process.js';
