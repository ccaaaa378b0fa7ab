'use strict';

const mongoose = require('mongoose');

const { Schema } = mongoose;

const pointTransactionSchema = new Schema(
  {
    memberId: { type: Schema.Types.ObjectId, ref: 'Member', required: true },
    type: { type: String, enum: ['earn', 'redeem', 'adjust'], required: true },
    // earn は正、redeem は負の値
    points: {
      type: Number,
      required: true,
      validate: { validator: Number.isInteger, message: 'points must be an integer' },
    },
    // earn のみ: POS の注文番号
    orderId: { type: String },
    storeId: { type: String },
    reason: { type: String, maxlength: 200 },
    // 付与ポイントの有効期限（付与日から365日）
    expiresAt: { type: Date },
  },
  {
    collection: 'point_transactions',
    timestamps: { createdAt: true, updatedAt: false },
  }
);

// POS からの再送で同じ注文に二重付与しないため
pointTransactionSchema.index(
  { orderId: 1 },
  { unique: true, partialFilterExpression: { type: 'earn' } }
);

// アプリの履歴画面（会員ごとの新しい順）
pointTransactionSchema.index({ createdAt: -1, memberId: 1 });

// 有効期限を過ぎたポイントを失効させる
pointTransactionSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

module.exports = mongoose.model('PointTransaction', pointTransactionSchema);
