-- ストアフロント / ショップ管理画面の主要クエリ（Go + sqlc、MySQL 8.0）
-- 呼び出し頻度は 2025年10月のピーク時 QPS。

-- name: SearchProducts :many
-- サイト内検索ボックス（約 450 QPS）。キーワードは商品名の部分一致。
SELECT id, shop_id, name, price, category
FROM products
WHERE status = 'on_sale'
  AND name LIKE CONCAT('%', ?, '%')
ORDER BY created_at DESC
LIMIT 40;

-- name: FindProductsByJanPrefix :many
-- ショップ管理画面の商品登録で、JANコードの先頭数桁から既存商品を補完候補に出す（約 30 QPS）。
SELECT id, shop_id, sku, jan_code, name
FROM products
WHERE jan_code LIKE CONCAT(?, '%')
ORDER BY jan_code
LIMIT 20;

-- name: ListCategoryProducts :many
-- カテゴリ一覧ページ（約 900 QPS）。?page=N の N から OFFSET を計算（1ページ 60件）。
-- カテゴリは MD チームが四半期ごとに見直す（新設・統合・名称変更あり）。
SELECT id, shop_id, name, price, created_at
FROM products
WHERE category = ? AND status = 'on_sale'
ORDER BY created_at DESC
LIMIT 60 OFFSET ?;

-- name: ListProductReviews :many
-- 商品詳細ページのレビュー欄（約 1,200 QPS）。投稿の約8割はスマホアプリから。
SELECT id, customer_id, rating, title, body, created_at
FROM product_reviews
WHERE product_id = ?
ORDER BY created_at DESC
LIMIT 20;

-- name: CreateProductReview :execlastid
INSERT INTO product_reviews (product_id, customer_id, rating, title, body)
VALUES (?, ?, ?, ?, ?);

-- name: ListCustomerOrders :many
-- 購入履歴ページ（約 600 QPS）。
SELECT id, order_no, shop_id, status, total_amount, created_at
FROM orders
WHERE customer_id = ?
ORDER BY created_at DESC
LIMIT 20;

-- name: ListShopOrdersByStatus :many
-- ショップ管理画面の受注一覧。ステータスのタブごとに新しい順で表示（約 350 QPS）。
SELECT id, order_no, customer_id, total_amount, created_at
FROM orders
WHERE shop_id = ? AND status = ?
ORDER BY created_at DESC
LIMIT 50;

-- name: FindCouponByCode :one
SELECT id, shop_id, discount_amount, valid_from, valid_until
FROM coupons
WHERE code = ? AND valid_from <= NOW(3) AND valid_until > NOW(3);

-- name: CreateOrder :execlastid
INSERT INTO orders (order_no, shop_id, customer_id, coupon_id,
                    subtotal_amount, discount_amount, shipping_fee, total_amount)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: AddOrderItem :exec
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
VALUES (?, ?, ?, ?);

-- name: ShopMonthlySales :one
-- ショップ管理画面の売上サマリ。
SELECT COUNT(*) AS orders, SUM(total_amount) AS sales
FROM orders
WHERE shop_id = ? AND status IN ('paid', 'shipped', 'delivered')
  AND created_at >= ? AND created_at < ?;
