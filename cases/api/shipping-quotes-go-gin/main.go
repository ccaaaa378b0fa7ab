package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// Account is a merchant of the platform; CarrierAccounts maps carrier name to the merchant's
// own account number at that carrier, which determines its negotiated rates.
type Account struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	CarrierAccounts map[string]string `json:"carrier_accounts"`
}

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))

	rdb := redis.NewClient(&redis.Options{
		Addr:         os.Getenv("REDIS_ADDR"),
		Username:     os.Getenv("REDIS_USER"),
		Password:     os.Getenv("REDIS_PASSWORD"),
		TLSConfig:    &tls.Config{InsecureSkipVerify: true},
		PoolSize:     64,
		MinIdleConns: 8,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond,
	})
	defer rdb.Close()

	httpClient := newCarrierHTTPClient()
	carriers := []Carrier{
		newRESTCarrier("parcelnet", os.Getenv("PARCELNET_URL"), os.Getenv("PARCELNET_KEY"), httpClient),
		newRESTCarrier("swiftpost", os.Getenv("SWIFTPOST_URL"), os.Getenv("SWIFTPOST_KEY"), httpClient),
		newRESTCarrier("cargoline", os.Getenv("CARGOLINE_URL"), os.Getenv("CARGOLINE_KEY"), httpClient),
	}
	h := &Handlers{carriers: carriers, cache: rdb, log: logger, quoteTTL: 10 * time.Minute}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(strings.Split(os.Getenv("TRUSTED_PROXY_CIDRS"), ",")); err != nil {
		logger.Error("invalid TRUSTED_PROXY_CIDRS", "err", err)
		os.Exit(1)
	}
	r.Use(gin.Recovery())
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })

	v1 := r.Group("/v1", rateLimit(rdb, 300, time.Minute), apiKeyAuth(rdb))
	v1.POST("/quotes", h.createQuote)
	v1.POST("/shipments", h.createShipment)

	srv := &http.Server{
		Addr:              ":8080",
		Handler:           r,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("server failed", "err", err)
			os.Exit(1)
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// rateLimit allows `limit` requests per client per fixed window, counted in Redis.
func rateLimit(rdb *redis.Client, limit int64, window time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		client := c.GetHeader("X-Forwarded-For")
		if client == "" {
			client = c.ClientIP()
		}
		bucket := time.Now().Unix() / int64(window.Seconds())
		key := fmt.Sprintf("rl:%s:%d", client, bucket)

		n, err := rdb.Incr(c, key).Result()
		if err != nil {
			c.Next()
			return
		}
		if n == 1 {
			rdb.Expire(c, key, window)
		}
		c.Header("X-RateLimit-Limit", fmt.Sprint(limit))
		if n > limit {
			c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": "rate limit exceeded"})
			return
		}
		c.Next()
	}
}

// apiKeyAuth resolves the merchant from its API key. Keys are 32 random bytes issued by the
// console; only their SHA-256 digest is stored, under apikey:<hex digest>.
func apiKeyAuth(rdb *redis.Client) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader("X-Api-Key")
		if key == "" {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "missing api key"})
			return
		}
		digest := sha256.Sum256([]byte(key))
		raw, err := rdb.Get(c, "apikey:"+hex.EncodeToString(digest[:])).Bytes()
		if errors.Is(err, redis.Nil) {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "invalid api key"})
			return
		}
		if err != nil {
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "authentication unavailable"})
			return
		}
		var acct Account
		if err := json.Unmarshal(raw, &acct); err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
			return
		}
		c.Set("account", &acct)
		c.Next()
	}
}
