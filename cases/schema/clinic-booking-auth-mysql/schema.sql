-- Booking platform for physiotherapy clinics: accounts, sign-in and appointments.
-- MySQL 8.0.36, InnoDB, transaction_isolation = REPEATABLE-READ (server default).
-- Row counts (Oct 2025): users 2.3M, sessions 4.1M, providers 11k, appointments 38M.

CREATE TABLE users (
  id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  email              VARCHAR(254) NOT NULL,
  full_name          VARCHAR(120) NOT NULL,
  phone              VARCHAR(32)  NULL,
  -- argon2id, PHC string format: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
  password_hash      VARCHAR(255) NOT NULL,
  mfa_enabled        TINYINT(1)   NOT NULL DEFAULT 0,
  mfa_totp_secret    VARBINARY(64) NULL,
  role               VARCHAR(16)  NOT NULL DEFAULT 'patient',
  created_at         DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at         DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uk_users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE app_settings (
  setting_key    VARCHAR(64)   NOT NULL,
  setting_value  VARCHAR(1024) NOT NULL,
  updated_at     DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (setting_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE sessions (
  token          CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id        BIGINT UNSIGNED NOT NULL,
  user_agent     VARCHAR(255)    NULL,
  ip_address     VARBINARY(16)   NULL,
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_seen_at   DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at     DATETIME(3)     NOT NULL,
  PRIMARY KEY (token),
  KEY idx_sessions_user (user_id),
  KEY idx_sessions_expires (expires_at),
  CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE password_reset_codes (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id        BIGINT UNSIGNED NOT NULL,
  code           CHAR(6)         NOT NULL,
  expires_at     DATETIME(3)     NOT NULL,
  used_at        DATETIME(3)     NULL,
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_reset_user (user_id, expires_at),
  CONSTRAINT fk_reset_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE clinics (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name           VARCHAR(200)    NOT NULL,
  time_zone      VARCHAR(64)     NOT NULL,
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

CREATE TABLE providers (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  clinic_id      BIGINT UNSIGNED NOT NULL,
  display_name   VARCHAR(120)    NOT NULL,
  slot_minutes   SMALLINT UNSIGNED NOT NULL DEFAULT 30,
  active         TINYINT(1)      NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  KEY idx_providers_clinic (clinic_id),
  CONSTRAINT fk_providers_clinic FOREIGN KEY (clinic_id) REFERENCES clinics (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

-- Appointments are whole slots: starts_at is aligned to the provider's slot_minutes grid
-- (enforced by the API) and ends_at = starts_at + slot_minutes.
CREATE TABLE appointments (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  provider_id    BIGINT UNSIGNED NOT NULL,
  patient_id     BIGINT UNSIGNED NOT NULL,
  starts_at      DATETIME        NOT NULL,
  ends_at        DATETIME        NOT NULL,
  status         VARCHAR(16)     NOT NULL DEFAULT 'booked',
  notes          VARCHAR(1000)   NULL,
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_appointments_provider_start (provider_id, starts_at),
  KEY idx_appointments_patient_start (patient_id, starts_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;

-- Append-only history of every booking change; support uses it to settle disputes and
-- insurers request it for claims.
CREATE TABLE booking_events (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  appointment_id BIGINT UNSIGNED NOT NULL,
  actor_user_id  BIGINT UNSIGNED NOT NULL,
  event_type     VARCHAR(32)     NOT NULL,
  payload        MEDIUMTEXT      NOT NULL,
  created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_booking_events_appointment (appointment_id, id)
) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
