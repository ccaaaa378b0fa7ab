-- Core ledger database, PostgreSQL 16 (primary + 2 streaming replicas).
-- Sizes (2025-10): customers 6.1M, accounts 9.4M, transfers 640M, ledger_entries 1.3B
-- (two entries per posted transfer). Peak: ~2,200 transfers/s, ~6,000 API requests/s.

CREATE TYPE account_status  AS ENUM ('active', 'frozen', 'closed');
CREATE TYPE transfer_status AS ENUM ('pending', 'posted', 'reversed', 'failed');
CREATE TYPE client_status   AS ENUM ('active', 'suspended', 'revoked');

CREATE TABLE api_clients (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text          NOT NULL,
    api_key     text          NOT NULL UNIQUE,
    scopes      text[]        NOT NULL DEFAULT '{}',
    status      client_status NOT NULL DEFAULT 'active',
    created_at  timestamptz   NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);

CREATE TABLE customers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_ref  uuid        NOT NULL UNIQUE,
    legal_name    text        NOT NULL,
    country_code  char(2)     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE currencies (
    code          char(3)  PRIMARY KEY,
    minor_units   smallint NOT NULL CHECK (minor_units BETWEEN 0 AND 4),
    name          text     NOT NULL
);

CREATE TABLE accounts (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id            bigint         NOT NULL REFERENCES customers (id),
    iban                   text           NOT NULL UNIQUE,
    currency_code          char(3)        NOT NULL REFERENCES currencies (code),
    balance_minor          bigint         NOT NULL DEFAULT 0,
    overdraft_limit_minor  bigint         NOT NULL DEFAULT 0 CHECK (overdraft_limit_minor >= 0),
    status                 account_status NOT NULL DEFAULT 'active',
    opened_at              timestamptz    NOT NULL DEFAULT now(),
    updated_at             timestamptz    NOT NULL DEFAULT now()
);

CREATE INDEX accounts_customer_idx ON accounts (customer_id);

CREATE TABLE transfers (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id          bigint          NOT NULL REFERENCES api_clients (id),
    client_reference   text            NOT NULL,
    debit_account_id   bigint          NOT NULL REFERENCES accounts (id),
    credit_account_id  bigint          NOT NULL REFERENCES accounts (id),
    amount_minor       bigint          NOT NULL CHECK (amount_minor > 0),
    currency_code      char(3)         NOT NULL REFERENCES currencies (code),
    status             transfer_status NOT NULL DEFAULT 'pending',
    description        text,
    created_at         timestamptz     NOT NULL DEFAULT now(),
    posted_at          timestamptz,
    CHECK (debit_account_id <> credit_account_id)
);

CREATE INDEX transfers_client_ref_idx ON transfers (client_id, client_reference);
CREATE INDEX transfers_debit_idx      ON transfers (debit_account_id, created_at);
CREATE INDEX transfers_credit_idx     ON transfers (credit_account_id, created_at);

CREATE TABLE ledger_entries (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id          bigint      NOT NULL REFERENCES transfers (id),
    account_id           bigint      NOT NULL REFERENCES accounts (id),
    direction            char(1)     NOT NULL CHECK (direction IN ('D', 'C')),
    amount_minor         bigint      NOT NULL CHECK (amount_minor > 0),
    balance_after_minor  bigint      NOT NULL,
    -- Batch reference from the pre-2021 core banking system for entries migrated from it;
    -- external auditors reconcile those entries against the old system's batch reports with it.
    legacy_batch_ref     text,
    posted_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_entries_transfer_idx ON ledger_entries (transfer_id);
CREATE INDEX ledger_entries_account_idx  ON ledger_entries (account_id, id);

CREATE TABLE schema_migrations (
    version     text        PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
