package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

const (
	maxAmountMinor  = 100_000_000 // 1,000,000.00 in minor units
	defaultPageSize = 50
	maxPageSize     = 200
	maxBodyBytes    = 16 << 10
)

var ibanPattern = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)

type API struct {
	store *Store
	log   *slog.Logger
}

type transferRequest struct {
	FromAccountID int64 `json:"from_account_id"`
	ToAccountID   int64 `json:"to_account_id"`
	AmountMinor   int64 `json:"amount_minor"`
}

type withdrawalRequest struct {
	AmountMinor int64  `json:"amount_minor"`
	IBAN        string `json:"iban"`
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountID")
	if !ok {
		return
	}
	acct, err := a.store.GetAccount(r.Context(), id)
	if errors.Is(err, ErrNotFound) || (err == nil && acct.UserID != userID(r.Context())) {
		writeError(w, http.StatusNotFound, "account not found")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acct)
}

func (a *API) listLedger(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountID")
	if !ok {
		return
	}
	limit := defaultPageSize
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and 200")
			return
		}
		limit = n
	}
	before := int64(math.MaxInt64)
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "before must be a positive entry id")
			return
		}
		before = n
	}

	entries, more, err := a.store.ListLedger(r.Context(), id, before, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids := make([]int64, 0, len(entries))
	for _, e := range entries {
		if e.CounterpartyID != nil {
			ids = append(ids, *e.CounterpartyID)
		}
	}
	names, err := a.store.CounterpartyNames(r.Context(), ids)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for i := range entries {
		if c := entries[i].CounterpartyID; c != nil {
			entries[i].Counterparty = names[*c]
		}
	}
	resp := map[string]any{"entries": entries}
	if more {
		resp["next_before"] = entries[len(entries)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) createTransfer(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req transferRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.AmountMinor <= 0 || req.AmountMinor > maxAmountMinor {
		writeError(w, http.StatusBadRequest, "amount_minor out of range")
		return
	}
	if req.FromAccountID == req.ToAccountID {
		writeError(w, http.StatusBadRequest, "source and destination must differ")
		return
	}
	ctx, uid := r.Context(), userID(r.Context())

	prev, err := a.store.FindTransferByKey(ctx, key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if prev != nil {
		writeJSON(w, http.StatusOK, prev)
		return
	}

	from, err := a.store.GetAccount(ctx, req.FromAccountID)
	if errors.Is(err, ErrNotFound) || (err == nil && from.UserID != uid) {
		writeError(w, http.StatusNotFound, "account not found")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}

	t, err := a.store.Transfer(ctx, uid, from.ID, req.ToAccountID, req.AmountMinor, key)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "destination account not found")
	case errors.Is(err, ErrInsufficientFunds), errors.Is(err, ErrCurrencyMismatch):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		a.fail(w, r, err)
	default:
		a.log.Info("transfer created", "transfer_id", t.ID, "user_id", uid, "amount_minor", t.Amount)
		writeJSON(w, http.StatusCreated, t)
	}
}

func (a *API) createWithdrawal(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountID")
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req withdrawalRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	req.IBAN = strings.ToUpper(strings.ReplaceAll(req.IBAN, " ", ""))
	if req.AmountMinor <= 0 || req.AmountMinor > maxAmountMinor || !ibanPattern.MatchString(req.IBAN) {
		writeError(w, http.StatusBadRequest, "invalid amount_minor or iban")
		return
	}
	acct, err := a.store.GetAccount(r.Context(), id)
	if errors.Is(err, ErrNotFound) || (err == nil && acct.UserID != userID(r.Context())) {
		writeError(w, http.StatusNotFound, "account not found")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}

	payoutID, err := a.store.Withdraw(r.Context(), acct.ID, req.AmountMinor, req.IBAN, key)
	switch {
	case errors.Is(err, ErrInsufficientFunds):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		a.fail(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, map[string]int64{"payout_id": payoutID})
	}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path,
		"request_id", middleware.GetReqID(r.Context()), "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 64 {
		writeError(w, http.StatusBadRequest, "Idempotency-Key header is required (at most 64 characters)")
		return "", false
	}
	return key, true
}

func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "invalid "+name)
		return 0, false
	}
	return id, true
}

func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON body")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
