-- モール型ECサイト カタログ・注文DB（MySQL 8.0.36 / InnoDB、sql_mode は既定の STRICT_TRANS_TABLES 込み）
-- 2025年10月時点: shops 1.8万, products 1,200万, product_reviews 3,100万,
--                 orders 2億2千万（大手ショップは1店舗で300万件超）, order_items 5億.

CREATE TABLE shops (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  slug          VARCHAR(64)  NOT NULL,
  name          VARCHAR(255) NOT NULL,
  status        VARCHAR(16)  NOT NULL DEFAULT 'active',
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uk_shops_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE products (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  shop_id       BIGINT UNSIGNED NOT NULL,
  sku           VARCHAR(64)  NOT NULL,
  jan_code      CHAR(13)     NULL,
  name          VARCHAR(255) NOT NULL,
  description   TEXT         NULL,
  category      ENUM('fashion','beauty','food','home','kids','sports','books') NOT NULL,
  price         DECIMAL(12,0) NOT NULL,          -- 税込価格（円）
  stock         INT          NOT NULL DEFAULT 0,
  status        VARCHAR(16)  NOT NULL DEFAULT 'draft',
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uk_products_shop_sku (shop_id, sku),
  KEY idx_products_jan (jan_code),
  KEY idx_products_category_listing (category, status, created_at),
  CONSTRAINT fk_products_shop FOREIGN KEY (shop_id) REFERENCES shops (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE product_reviews (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  product_id    BIGINT UNSIGNED NOT NULL,
  customer_id   BIGINT UNSIGNED NOT NULL,
  rating        TINYINT UNSIGNED NOT NULL,
  title         VARCHAR(100) NOT NULL,
  body          TEXT         NOT NULL,
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_reviews_product_created (product_id, created_at),
  CONSTRAINT fk_reviews_product FOREIGN KEY (product_id) REFERENCES products (id),
  KEY idx_reviews_customer (customer_id),
  CONSTRAINT chk_reviews_rating CHECK (rating BETWEEN 1 AND 5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_general_ci;

CREATE TABLE customers (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  email         VARCHAR(255) NOT NULL,
  display_name  VARCHAR(100) NOT NULL,
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uk_customers_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE coupons (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  shop_id         BIGINT UNSIGNED NOT NULL,
  -- 外部キャンペーン基盤が発行するコードで、大文字と小文字を別のコードとして払い出す仕様
  code            VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  discount_amount DECIMAL(12,0) NOT NULL,
  valid_from      DATETIME(3) NOT NULL,
  valid_until     DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_coupons_code (code),
  CONSTRAINT fk_coupons_shop FOREIGN KEY (shop_id) REFERENCES shops (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE orders (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  order_no        CHAR(20)     NOT NULL,
  shop_id         BIGINT UNSIGNED NOT NULL,
  customer_id     BIGINT UNSIGNED NOT NULL,
  status          VARCHAR(16)  NOT NULL DEFAULT 'pending',
  coupon_id       BIGINT UNSIGNED NULL,
  subtotal_amount FLOAT        NOT NULL,
  discount_amount FLOAT        NOT NULL DEFAULT 0,
  shipping_fee    FLOAT        NOT NULL DEFAULT 0,
  total_amount    FLOAT        NOT NULL,
  created_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uk_orders_order_no (order_no),
  KEY idx_orders_customer_created (customer_id, created_at),
  KEY idx_orders_shop (shop_id),
  KEY idx_orders_status (status),
  CONSTRAINT fk_orders_shop FOREIGN KEY (shop_id) REFERENCES shops (id),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT fk_orders_coupon FOREIGN KEY (coupon_id) REFERENCES coupons (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE order_items (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  order_id        BIGINT UNSIGNED NOT NULL,
  product_id      BIGINT UNSIGNED NOT NULL,
  quantity        INT UNSIGNED NOT NULL,
  unit_price      FLOAT        NOT NULL,
  PRIMARY KEY (id),
  KEY idx_order_items_order (order_id),
  KEY idx_order_items_product (product_id),
  CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT fk_order_items_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

-- product_reviews is created before customers: its customer foreign key is added once both exist
ALTER TABLE product_reviews
  ADD CONSTRAINT fk_reviews_customer FOREIGN KEY (customer_id) REFERENCES customers (id);
