# ---------------------------------------------------------------------------
# RDS for PostgreSQL (注文・会員データ)
# ---------------------------------------------------------------------------
resource "aws_kms_key" "rds" {
  description             = "shop-prod RDS storage and Performance Insights"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_kms_alias" "rds" {
  name          = "alias/shop-prod-rds"
  target_key_id = aws_kms_key.rds.key_id
}

resource "aws_security_group" "db" {
  name        = "shop-prod-db"
  description = "PostgreSQL for the shop app"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "shop-prod-db" })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from app tasks"
  referenced_security_group_id = var.app_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_subnet_group" "shop" {
  name       = "shop-prod"
  subnet_ids = var.db_subnet_ids
  tags       = local.tags
}

resource "aws_db_parameter_group" "shop" {
  name   = "shop-prod-pg16"
  family = "postgres16"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }

  tags = local.tags
}

resource "aws_db_instance" "shop" {
  identifier     = "shop-prod"
  engine         = "postgres"
  engine_version = "16.4"
  instance_class = "db.r6g.large"

  allocated_storage     = 200
  max_allocated_storage = 1000
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.rds.arn

  db_name                     = "shop"
  username                    = "shop_admin"
  manage_master_user_password = true

  db_subnet_group_name   = aws_db_subnet_group.shop.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = true
  parameter_group_name   = aws_db_parameter_group.shop.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = 14
  backup_window             = "17:00-18:00"
  maintenance_window        = "sun:18:30-sun:19:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "shop-prod-final"

  auto_minor_version_upgrade            = true
  iam_database_authentication_enabled   = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.rds.arn
  performance_insights_retention_period = 7
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  tags = local.tags
}

# 自動バックアップを DR リージョン (大阪) にも複製する
resource "aws_kms_key" "rds_dr" {
  provider                = aws.dr
  description             = "shop-prod RDS backups replicated to the DR region"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_db_instance_automated_backups_replication" "shop" {
  provider               = aws.dr
  source_db_instance_arn = aws_db_instance.shop.arn
  kms_key_id             = aws_kms_key.rds_dr.arn
  retention_period       = 14
}

# ---------------------------------------------------------------------------
# 製品マニュアル (PDF) の公開配布用バケット
# 一般公開してよいファイルのみを CI (manual-publisher ロール) が配置する
# ---------------------------------------------------------------------------
resource "aws_s3_bucket" "public_manuals" {
  bucket = "shop-prod-public-manuals"
  tags = merge(local.tags, {
    DataClassification = "public"
    Purpose            = "public-download-product-manuals"
  })
}

resource "aws_s3_bucket_ownership_controls" "public_manuals" {
  bucket = aws_s3_bucket.public_manuals.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "public_manuals" {
  bucket = aws_s3_bucket.public_manuals.id
  versioning_configuration {
    status = "Enabled"
  }
}

# 匿名の GetObject は SSE-KMS のオブジェクトを復号できないため SSE-S3 を使う
resource "aws_s3_bucket_server_side_encryption_configuration" "public_manuals" {
  bucket = aws_s3_bucket.public_manuals.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# ACL による公開は禁止したまま、下のバケットポリシーによる公開だけを許可する
resource "aws_s3_bucket_public_access_block" "public_manuals" {
  bucket                  = aws_s3_bucket.public_manuals.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = false
  restrict_public_buckets = false
}

data "aws_iam_policy_document" "public_manuals" {
  statement {
    sid       = "PublicReadObjects"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.public_manuals.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.public_manuals.arn, "${aws_s3_bucket.public_manuals.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "public_manuals" {
  bucket     = aws_s3_bucket.public_manuals.id
  policy     = data.aws_iam_policy_document.public_manuals.json
  depends_on = [aws_s3_bucket_public_access_block.public_manuals]
}
