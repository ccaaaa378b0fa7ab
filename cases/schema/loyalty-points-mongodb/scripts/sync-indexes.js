#!/usr/bin/env node
'use strict';

// リリースパイプラインの migrate ステップで実行する（npm run db:sync-indexes）。
// 本番はアプリ起動時の autoIndex を切っているので、インデックスの作成・削除はここでまとめて行う。

const mongoose = require('mongoose');
const config = require('../src/config');
const Member = require('../src/models/Member');
const PointTransaction = require('../src/models/PointTransaction');

async function main() {
  await mongoose.connect(config.mongo.uri, { dbName: config.mongo.dbName, autoIndex: false });

  for (const model of [Member, PointTransaction]) {
    const dropped = await model.syncIndexes();
    console.log(`${model.collection.collectionName}: indexes synced, dropped: ${dropped.join(', ') || 'none'}`);
  }

  await mongoose.disconnect();
}

main().catch(async (err) => {
  console.error(err);
  await mongoose.disconnect().catch(() => {});
  process.exit(1);
});
