'use strict';

const mongoose = require('mongoose');

const { Schema } = mongoose;

const TIERS = ['regular', 'silver', 'gold', 'platinum'];

// アプリのホーム画面に出す直近の履歴（明細の正本は point_transactions）
const activitySchema = new Schema(
  {
    type: { type: String, enum: ['earn', 'redeem', 'adjust'], required: true },
    points: { type: Number, required: true },
    storeId: { type: String },
    at: { type: Date, default: Date.now },
  },
  { _id: false }
);

const memberSchema = new Schema(
  {
    memberNo: { type: String, required: true },
    // 店頭カードの16桁番号。アプリだけの会員は未発行
    cardNumber: { type: String },
    appUserId: { type: String },
    email: { type: String, trim: true, lowercase: true },
    phone: { type: String },
    lastNameKana: { type: String },
    firstNameKana: { type: String },
    birthDate: { type: Date },
    tier: { type: String, enum: TIERS, default: 'regular' },
    status: { type: String, enum: ['active', 'suspended', 'closed'], default: 'active' },
    // ポイントは1pt単位の整数で持つ（端数は付与時に切り捨て）
    pointsBalance: {
      type: Number,
      default: 0,
      min: 0,
      validate: { validator: Number.isInteger, message: 'pointsBalance must be an integer' },
    },
    lifetimePoints: { type: Number, default: 0 },
    recentActivity: { type: [activitySchema], default: [] },
  },
  {
    collection: 'members',
    timestamps: true,
  }
);

memberSchema.index({ memberNo: 1 }, { unique: true });
memberSchema.index(
  { cardNumber: 1 },
  { unique: true, partialFilterExpression: { cardNumber: { $type: 'string' } } }
);
memberSchema.index(
  { appUserId: 1 },
  { unique: true, partialFilterExpression: { appUserId: { $type: 'string' } } }
);
memberSchema.index(
  { email: 1 },
  { unique: true, partialFilterExpression: { email: { $type: 'string' } } }
);
memberSchema.index({ phone: 1 });
memberSchema.index({ lastNameKana: 1, firstNameKana: 1 });

const Member = mongoose.model('Member', memberSchema);

module.exports = Member;
module.exports.TIERS = TIERS;
