// The production launcher doubles as the test harness.
export * from '../../common/local/redis-server-process.js';
