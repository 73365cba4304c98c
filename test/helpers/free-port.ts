export * from '../../common/local/free-port.js';
