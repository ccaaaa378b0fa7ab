package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

type Handlers struct {
	carriers []Carrier
	cache    *redis.Client
	log      *slog.Logger
	quoteTTL time.Duration
}

type quoteResponse struct {
	Quotes    []Quote   `json:"quotes"`
	QuotedAt  time.Time `json:"quoted_at"`
	FromCache bool      `json:"from_cache"`
}

func quoteCacheKey(req QuoteRequest) string {
	return fmt.Sprintf("quotes:v3:%s:%s:%s:%s:%d:%s",
		req.Origin.Country, strings.ToUpper(req.Origin.PostalCode),
		req.Destination.Country, strings.ToUpper(req.Destination.PostalCode),
		req.WeightGrams, req.Service)
}

func (h *Handlers) createQuote(c *gin.Context) {
	acct := c.MustGet("account").(*Account)
	var req QuoteRequest
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "invalid request", "detail": err.Error()})
		return
	}
	key := quoteCacheKey(req)

	// The cache only saves carrier calls: if Redis is slow or down we still answer from the carriers.
	if raw, err := h.cache.Get(c, key).Bytes(); err == nil {
		var cached quoteResponse
		if json.Unmarshal(raw, &cached) == nil {
			cached.FromCache = true
			c.JSON(http.StatusOK, cached)
			return
		}
	} else if !errors.Is(err, redis.Nil) {
		h.log.Warn("quote cache read failed", "err", err)
	}

	resp := quoteResponse{Quotes: h.fetchQuotes(c, acct, req), QuotedAt: time.Now().UTC()}
	if raw, err := json.Marshal(resp); err == nil {
		if err := h.cache.Set(c, key, raw, h.quoteTTL).Err(); err != nil {
			h.log.Warn("quote cache write failed", "err", err)
		}
	}
	c.JSON(http.StatusOK, resp)
}

// fetchQuotes asks every carrier in parallel and returns all rates, cheapest first.
func (h *Handlers) fetchQuotes(c *gin.Context, acct *Account, req QuoteRequest) []Quote {
	ctx := c.Request.Context()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		all []Quote
	)
	for _, carrier := range h.carriers {
		number, ok := acct.CarrierAccounts[carrier.Name()]
		if !ok {
			continue
		}
		wg.Add(1)
		go func(cr Carrier, number string) {
			defer wg.Done()
			quotes, err := cr.Quote(ctx, number, req)
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, quotes...)
			mu.Unlock()
		}(carrier, number)
	}
	wg.Wait()

	sort.Slice(all, func(i, j int) bool { return all[i].AmountCents < all[j].AmountCents })
	return all
}

func (h *Handlers) createShipment(c *gin.Context) {
	acct := c.MustGet("account").(*Account)
	var req ShipmentRequest
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "invalid request", "detail": err.Error()})
		return
	}
	var carrier Carrier
	for _, cr := range h.carriers {
		if cr.Name() == req.Carrier {
			carrier = cr
			break
		}
	}
	number, ok := acct.CarrierAccounts[req.Carrier]
	if carrier == nil || !ok {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": "carrier not enabled for this account"})
		return
	}

	shipment, err := carrier.CreateShipment(c.Request.Context(), number, req)
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	h.log.Info("shipment created",
		"account_id", acct.ID, "carrier", req.Carrier, "tracking_number", shipment.TrackingNumber)
	c.JSON(http.StatusCreated, shipment)
}
