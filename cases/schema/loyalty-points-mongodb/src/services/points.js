'use strict';

const mongoose = require('mongoose');
const Member = require('../models/Member');
const PointTransaction = require('../models/PointTransaction');
const { NotFoundError, ConflictError, InsufficientPointsError } = require('../errors');

// 付与率（購入金額に対する千分率）。regular は 1%
const EARN_RATE_PERMILLE = { regular: 10, silver: 15, gold: 20, platinum: 30 };
const POINT_VALIDITY_DAYS = 365;
const HISTORY_LIMIT = 50;
const HOME_ACTIVITY_COUNT = 10;

function addDays(date, days) {
  return new Date(date.getTime() + days * 24 * 60 * 60 * 1000);
}

/**
 * POS の会計確定時に呼ばれる。同じ orderId の再送には最初の付与結果を返す。
 */
async function earnForOrder({ memberId, orderId, storeId, amountYen }) {
  const session = await mongoose.startSession();
  try {
    let result;
    await session.withTransaction(async () => {
      const member = await Member.findById(memberId, 'tier status', { session });
      if (!member || member.status !== 'active') {
        throw new NotFoundError(`member ${memberId}`);
      }

      const points = Math.floor((amountYen * EARN_RATE_PERMILLE[member.tier]) / 1000);
      const now = new Date();
      const [tx] = await PointTransaction.create(
        [{
          memberId,
          type: 'earn',
          points,
          orderId,
          storeId,
          expiresAt: addDays(now, POINT_VALIDITY_DAYS),
        }],
        { session }
      );
      await Member.updateOne(
        { _id: memberId },
        {
          $inc: { pointsBalance: points, lifetimePoints: points },
          $push: { recentActivity: { type: 'earn', points, storeId, at: now } },
        },
        { session }
      );
      result = { transactionId: tx._id, points };
    });
    return result;
  } catch (err) {
    if (err.code === 11000 && err.keyPattern && err.keyPattern.orderId) {
      const existing = await PointTransaction.findOne({ orderId, type: 'earn' }).lean();
      return { transactionId: existing._id, points: existing.points, duplicate: true };
    }
    throw err;
  } finally {
    await session.endSession();
  }
}

/**
 * 店頭・アプリでのポイント利用。残高が足りなければ InsufficientPointsError。
 */
async function redeemPoints({ memberId, points, storeId, reason }) {
  if (!Number.isInteger(points) || points <= 0) {
    throw new RangeError('points must be a positive integer');
  }

  const member = await Member.findById(memberId);
  if (!member || member.status !== 'active') {
    throw new NotFoundError(`member ${memberId}`);
  }
  if (member.pointsBalance < points) {
    throw new InsufficientPointsError(member.pointsBalance, points);
  }

  member.pointsBalance -= points;
  member.recentActivity.push({ type: 'redeem', points: -points, storeId });
  await member.save();

  const tx = await PointTransaction.create({
    memberId,
    type: 'redeem',
    points: -points,
    storeId,
    reason,
  });
  return { transactionId: tx._id, balance: member.pointsBalance };
}

/**
 * アプリの「ポイント履歴」画面。新しい順に直近 HISTORY_LIMIT 件。
 */
async function getHistory(memberId) {
  return PointTransaction.find({ memberId })
    .sort({ createdAt: -1 })
    .limit(HISTORY_LIMIT)
    .select('type points storeId orderId createdAt')
    .lean();
}

/**
 * アプリのホーム画面: 残高・ランクと直近の利用履歴。
 */
async function getHomeSummary(memberId) {
  const member = await Member.findById(memberId)
    .select('memberNo tier pointsBalance recentActivity')
    .lean();
  if (!member) throw new NotFoundError(`member ${memberId}`);

  return {
    memberNo: member.memberNo,
    tier: member.tier,
    pointsBalance: member.pointsBalance,
    recentActivity: member.recentActivity.slice(-HOME_ACTIVITY_COUNT).reverse(),
  };
}

/**
 * アプリ会員に店頭カードを紐づける。POST /v1/app/cards/link の body をそのまま渡す。
 * カード番号と生年月日が一致した会員に appUserId を設定する。
 */
async function linkCard(appUserId, { cardNumber, birthDate }) {
  const member = await Member.findOne({ cardNumber, birthDate, status: 'active' });
  if (!member) {
    throw new NotFoundError('card not found or birth date does not match');
  }
  if (member.appUserId && member.appUserId !== appUserId) {
    throw new ConflictError('card is already linked to another account');
  }

  member.appUserId = appUserId;
  await member.save();
  return { memberId: member._id, memberNo: member.memberNo, pointsBalance: member.pointsBalance };
}

/**
 * コールセンター管理画面の会員検索。メールアドレス・電話番号・カナ氏名の一部で探す。
 */
async function searchMembers(keyword) {
  const pattern = new RegExp(keyword, 'i');
  return Member.find({
    $or: [
      { email: pattern },
      { phone: pattern },
      { lastNameKana: pattern },
      { firstNameKana: pattern },
    ],
  })
    .select('memberNo email phone lastNameKana firstNameKana tier pointsBalance status')
    .limit(20)
    .lean();
}

module.exports = {
  earnForOrder,
  redeemPoints,
  getHistory,
  getHomeSummary,
  linkCard,
  searchMembers,
};
