package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	ErrNotFound          = errors.New("not found")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrCurrencyMismatch  = errors.New("currency mismatch")
)

type Account struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id"`
	Currency  string    `json:"currency"`
	Balance   int64     `json:"balance_minor"`
	UpdatedAt time.Time `json:"updated_at"`
}

type LedgerEntry struct {
	ID             int64     `json:"id"`
	TransferID     *int64    `json:"transfer_id,omitempty"`
	CounterpartyID *int64    `json:"counterparty_account_id,omitempty"`
	Counterparty   string    `json:"counterparty_name,omitempty"`
	Amount         int64     `json:"amount_minor"`
	Kind           string    `json:"kind"`
	CreatedAt      time.Time `json:"created_at"`
}

type Transfer struct {
	ID            int64     `json:"id"`
	FromAccountID int64     `json:"from_account_id"`
	ToAccountID   int64     `json:"to_account_id"`
	Amount        int64     `json:"amount_minor"`
	Currency      string    `json:"currency"`
	CreatedAt     time.Time `json:"created_at"`
}

type Store struct{ db *sql.DB }

func NewStore(db *sql.DB) *Store { return &Store{db: db} }

func (s *Store) GetAccount(ctx context.Context, id int64) (Account, error) {
	var a Account
	err := s.db.QueryRowContext(ctx,
		`SELECT id, user_id, currency, balance_minor, updated_at FROM accounts WHERE id = $1`, id,
	).Scan(&a.ID, &a.UserID, &a.Currency, &a.Balance, &a.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// ListLedger returns up to limit entries older than beforeID, newest first, and whether more exist.
func (s *Store) ListLedger(ctx context.Context, accountID, beforeID int64, limit int) ([]LedgerEntry, bool, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, transfer_id, counterparty_account_id, amount_minor, kind, created_at
		  FROM ledger_entries
		 WHERE account_id = $1 AND id < $2
		 ORDER BY id DESC
		 LIMIT $3`, accountID, beforeID, limit+1)
	if err != nil {
		return nil, false, err
	}
	entries := make([]LedgerEntry, 0, limit)
	for rows.Next() {
		if len(entries) == limit {
			return entries, true, nil
		}
		var e LedgerEntry
		if err := rows.Scan(&e.ID, &e.TransferID, &e.CounterpartyID, &e.Amount, &e.Kind, &e.CreatedAt); err != nil {
			return nil, false, err
		}
		entries = append(entries, e)
	}
	return entries, false, rows.Err()
}

// CounterpartyNames resolves the display names of the given accounts' owners in one round trip.
func (s *Store) CounterpartyNames(ctx context.Context, accountIDs []int64) (map[int64]string, error) {
	names := make(map[int64]string, len(accountIDs))
	if len(accountIDs) == 0 {
		return names, nil
	}
	placeholders := make([]string, len(accountIDs))
	args := make([]any, len(accountIDs))
	for i, id := range accountIDs {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
		args[i] = id
	}
	query := fmt.Sprintf(`
		SELECT a.id, u.display_name
		  FROM accounts a
		  JOIN users u ON u.id = a.user_id
		 WHERE a.id IN (%s)`, strings.Join(placeholders, ", "))
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		names[id] = name
	}
	return names, rows.Err()
}

func (s *Store) FindTransferByKey(ctx context.Context, key string) (*Transfer, error) {
	var t Transfer
	err := s.db.QueryRowContext(ctx, `
		SELECT id, from_account_id, to_account_id, amount_minor, currency, created_at
		  FROM transfers
		 WHERE idempotency_key = $1`, key,
	).Scan(&t.ID, &t.FromAccountID, &t.ToAccountID, &t.Amount, &t.Currency, &t.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (s *Store) Transfer(ctx context.Context, userID, fromID, toID, amount int64, key string) (*Transfer, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	// Lock both rows in ascending id order so that two transfers in opposite directions
	// between the same accounts wait for each other instead of deadlocking.
	first, second := fromID, toID
	if second < first {
		first, second = second, first
	}
	balances := make(map[int64]int64, 2)
	currencies := make(map[int64]string, 2)
	for _, id := range []int64{first, second} {
		var bal int64
		var cur string
		err := tx.QueryRowContext(ctx,
			`SELECT balance_minor, currency FROM accounts WHERE id = $1 FOR UPDATE`, id,
		).Scan(&bal, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		balances[id], currencies[id] = bal, cur
	}
	if currencies[fromID] != currencies[toID] {
		return nil, ErrCurrencyMismatch
	}
	if balances[fromID] < amount {
		return nil, ErrInsufficientFunds
	}

	t := Transfer{FromAccountID: fromID, ToAccountID: toID, Amount: amount, Currency: currencies[fromID]}
	err = tx.QueryRowContext(ctx, `
		INSERT INTO transfers (idempotency_key, created_by, from_account_id, to_account_id, amount_minor, currency)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, created_at`, key, userID, fromID, toID, amount, t.Currency,
	).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return nil, err
	}
	const move = `UPDATE accounts SET balance_minor = balance_minor + $1, updated_at = now() WHERE id = $2`
	if _, err := tx.ExecContext(ctx, move, -amount, fromID); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, move, amount, toID); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO ledger_entries (account_id, transfer_id, counterparty_account_id, amount_minor, kind)
		VALUES ($1, $2, $3, $4, 'transfer_out'), ($3, $2, $1, $5, 'transfer_in')`,
		fromID, t.ID, toID, -amount, amount); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Withdraw debits the account and queues a bank payout. A repeated key returns the existing payout.
func (s *Store) Withdraw(ctx context.Context, accountID, amount int64, iban, key string) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	var payoutID int64
	err = tx.QueryRowContext(ctx,
		`SELECT id FROM payouts WHERE account_id = $1 AND idempotency_key = $2`, accountID, key,
	).Scan(&payoutID)
	if err == nil {
		return payoutID, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}

	var balance int64
	err = tx.QueryRowContext(ctx,
		`SELECT balance_minor FROM accounts WHERE id = $1`, accountID,
	).Scan(&balance)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if balance < amount {
		return 0, ErrInsufficientFunds
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE accounts SET balance_minor = $1, updated_at = now() WHERE id = $2`,
		balance-amount, accountID); err != nil {
		return 0, err
	}
	err = tx.QueryRowContext(ctx, `
		INSERT INTO payouts (account_id, idempotency_key, amount_minor, iban, status)
		VALUES ($1, $2, $3, $4, 'pending')
		RETURNING id`, accountID, key, amount, iban,
	).Scan(&payoutID)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO ledger_entries (account_id, amount_minor, kind) VALUES ($1, $2, 'withdrawal')`,
		accountID, -amount); err != nil {
		return 0, err
	}
	return payoutID, tx.Commit()
}
