package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/golang-jwt/jwt/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
)

type ctxKey int

const userIDKey ctxKey = iota

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(logger)

	db, err := sql.Open("pgx", mustEnv("DATABASE_URL"))
	if err != nil {
		logger.Error("open database", "err", err)
		os.Exit(1)
	}
	db.SetMaxOpenConns(30)
	db.SetMaxIdleConns(30)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)

	pingCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = db.PingContext(pingCtx)
	cancel()
	if err != nil {
		logger.Error("ping database", "err", err)
		os.Exit(1)
	}

	auth := &Authenticator{
		key:    []byte(mustEnv("JWT_SIGNING_KEY")),
		issuer: mustEnv("JWT_ISSUER"),
	}
	api := &API{store: NewStore(db), log: logger}

	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(middleware.RealIP)
	r.Use(middleware.Recoverer)

	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.PingContext(r.Context()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	r.Route("/v1", func(r chi.Router) {
		r.Use(auth.Middleware)
		r.Get("/accounts/{accountID}", api.getAccount)
		r.Get("/accounts/{accountID}/ledger", api.listLedger)
		r.Post("/accounts/{accountID}/withdrawals", api.createWithdrawal)
		r.Post("/transfers", api.createTransfer)
	})

	addr := ":" + envOr("PORT", "8080")
	logger.Info("wallet api listening", "addr", addr)
	if err := http.ListenAndServe(addr, r); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

// Authenticator verifies the HS256 access tokens issued by the identity service.
type Authenticator struct {
	key    []byte
	issuer string
}

func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(a.issuer),
		jwt.WithAudience("wallet-api"),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" {
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		var claims jwt.RegisteredClaims
		if _, err := parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return a.key, nil }); err != nil {
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		uid, err := strconv.ParseInt(claims.Subject, 10, 64)
		if err != nil || uid <= 0 {
			writeError(w, http.StatusUnauthorized, "invalid token subject")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userIDKey, uid)))
	})
}

func userID(ctx context.Context) int64 {
	uid, _ := ctx.Value(userIDKey).(int64)
	return uid
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		slog.Error("missing required environment variable", "name", name)
		os.Exit(1)
	}
	return v
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
