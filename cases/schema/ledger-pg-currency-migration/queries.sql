-- Hot queries of the ledger service (sqlc, PostgreSQL 16).
-- Rates are peak calls per second from the October 2025 dashboards.

-- name: GetClientByApiKey :one
-- Authenticates every API request; the key arrives in the Authorization header (~6,000/s).
SELECT id, name, scopes, status
FROM api_clients
WHERE api_key = $1;

-- name: FindTransferByClientReference :one
-- POST /v2/transfers (~2,200/s). Clients retry on timeouts with the same client_reference;
-- when a row is found the service answers with it instead of creating a second transfer.
SELECT id, status, amount_minor, currency_code, created_at, posted_at
FROM transfers
WHERE client_id = $1 AND client_reference = $2;

-- name: InsertTransfer :one
INSERT INTO transfers (client_id, client_reference, debit_account_id, credit_account_id,
                       amount_minor, currency_code, description)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, created_at;

-- Posting runs in the same transaction as InsertTransfer (READ COMMITTED):
--   1. GetAccountForPosting for the debit and the credit account;
--   2. the service checks status, currency and balance_minor + overdraft_limit_minor >= amount;
--   3. InsertLedgerEntry for each side with the new balance;
--   4. SetAccountBalance for each side, then MarkTransferPosted.

-- name: GetAccountForPosting :one
SELECT id, currency_code, balance_minor, overdraft_limit_minor, status
FROM accounts
WHERE id = $1;

-- name: InsertLedgerEntry :exec
INSERT INTO ledger_entries (transfer_id, account_id, direction, amount_minor, balance_after_minor)
VALUES ($1, $2, $3, $4, $5);

-- name: SetAccountBalance :exec
UPDATE accounts
SET balance_minor = $2, updated_at = now()
WHERE id = $1;

-- name: MarkTransferPosted :exec
UPDATE transfers
SET status = 'posted', posted_at = now()
WHERE id = $1;

-- name: GetTransfer :one
-- GET /v2/transfers/{id} (~1,100/s).
SELECT id, client_reference, debit_account_id, credit_account_id, amount_minor,
       currency_code, status, description, created_at, posted_at
FROM transfers
WHERE id = $1 AND client_id = $2;

-- name: ListAccountEntries :many
-- Statement screen and CSV export (~900/s). $2 is the id of the last entry on the previous
-- page (first page: 9223372036854775807).
SELECT id, transfer_id, direction, amount_minor, balance_after_minor, posted_at
FROM ledger_entries
WHERE account_id = $1 AND id < $2
ORDER BY id DESC
LIMIT 100;

-- name: DailyTurnoverByCurrency :many
-- Nightly FX reconciliation job; needs ledger_entries.currency_code (migration 0087).
SELECT currency_code, direction, count(*) AS entries, sum(amount_minor) AS total_minor
FROM ledger_entries
WHERE currency_code = $1
  AND posted_at >= $2 AND posted_at < $3
GROUP BY currency_code, direction;
