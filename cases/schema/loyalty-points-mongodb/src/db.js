'use strict';

const mongoose = require('mongoose');
const config = require('./config');
const logger = require('./logger');

mongoose.set('strictQuery', true);

async function connect() {
  mongoose.connection.on('disconnected', () => logger.warn('mongodb disconnected'));
  mongoose.connection.on('reconnected', () => logger.info('mongodb reconnected'));

  await mongoose.connect(config.mongo.uri, {
    dbName: config.mongo.dbName,
    maxPoolSize: config.mongo.maxPoolSize ?? 50,
    serverSelectionTimeoutMS: 5000,
    socketTimeoutMS: 30000,
    // 本番のインデックスはリリース時に scripts/sync-indexes.js で作成する
    autoIndex: config.env !== 'production',
    // POSの会計待ちを短くしたいので primary の ack だけ待つ
    writeConcern: { w: 1 },
    retryWrites: true,
  });

  logger.info({ db: config.mongo.dbName }, 'mongodb connected');
  return mongoose.connection;
}

async function disconnect() {
  await mongoose.disconnect();
}

module.exports = { connect, disconnect };
