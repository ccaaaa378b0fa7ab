CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    display_name  text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id             bigserial PRIMARY KEY,
    user_id        bigint      NOT NULL REFERENCES users (id),
    currency       char(3)     NOT NULL,
    balance_minor  bigint      NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_user_id_idx ON accounts (user_id);

CREATE TABLE transfers (
    id               bigserial PRIMARY KEY,
    idempotency_key  text        NOT NULL UNIQUE,
    created_by       bigint      NOT NULL REFERENCES users (id),
    from_account_id  bigint      NOT NULL REFERENCES accounts (id),
    to_account_id    bigint      NOT NULL REFERENCES accounts (id),
    amount_minor     bigint      NOT NULL CHECK (amount_minor > 0),
    currency         char(3)     NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfers_from_account_idx ON transfers (from_account_id, created_at DESC);
CREATE INDEX transfers_to_account_idx ON transfers (to_account_id, created_at DESC);

CREATE TABLE payouts (
    id               bigserial PRIMARY KEY,
    account_id       bigint      NOT NULL REFERENCES accounts (id),
    idempotency_key  text        NOT NULL,
    amount_minor     bigint      NOT NULL CHECK (amount_minor > 0),
    iban             text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, idempotency_key)
);
-- The payout sender polls pending payouts oldest first.
CREATE INDEX payouts_pending_idx ON payouts (created_at) WHERE status = 'pending';

CREATE TABLE deposits (
    id                bigserial PRIMARY KEY,
    account_id        bigint      NOT NULL REFERENCES accounts (id),
    provider_ref      text        NOT NULL UNIQUE,
    amount_minor      bigint      NOT NULL CHECK (amount_minor > 0),
    received_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id                       bigserial PRIMARY KEY,
    account_id               bigint      NOT NULL REFERENCES accounts (id),
    transfer_id              bigint      REFERENCES transfers (id),
    counterparty_account_id  bigint      REFERENCES accounts (id),
    amount_minor             bigint      NOT NULL,
    kind                     text        NOT NULL CHECK (kind IN ('transfer_in', 'transfer_out', 'withdrawal', 'deposit')),
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_account_id_id_idx ON ledger_entries (account_id, id DESC);
