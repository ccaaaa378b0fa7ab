package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

type Address struct {
	Country    string `json:"country" binding:"required,len=2"`
	PostalCode string `json:"postal_code" binding:"required,max=12"`
	City       string `json:"city,omitempty"`
	Line1      string `json:"line1,omitempty"`
}

type QuoteRequest struct {
	Origin      Address `json:"origin" binding:"required"`
	Destination Address `json:"destination" binding:"required"`
	WeightGrams int     `json:"weight_grams" binding:"required,min=1,max=70000"`
	Service     string  `json:"service" binding:"omitempty,oneof=ground express overnight"`
}

type Quote struct {
	Carrier       string `json:"carrier"`
	Service       string `json:"service"`
	AmountCents   int64  `json:"amount_cents"`
	Currency      string `json:"currency"`
	EstimatedDays int    `json:"estimated_days"`
}

type ShipmentRequest struct {
	Carrier     string  `json:"carrier" binding:"required"`
	Service     string  `json:"service" binding:"required"`
	Origin      Address `json:"origin" binding:"required"`
	Destination Address `json:"destination" binding:"required"`
	WeightGrams int     `json:"weight_grams" binding:"required,min=1,max=70000"`
	Reference   string  `json:"reference" binding:"max=64"`
}

type Shipment struct {
	TrackingNumber string `json:"tracking_number"`
	LabelURL       string `json:"label_url"`
	AmountCents    int64  `json:"amount_cents"`
	Currency       string `json:"currency"`
}

type Carrier interface {
	Name() string
	Quote(ctx context.Context, accountNumber string, req QuoteRequest) ([]Quote, error)
	CreateShipment(ctx context.Context, accountNumber string, req ShipmentRequest) (*Shipment, error)
}

// CarrierError is a non-retryable 4xx answer from a carrier.
type CarrierError struct {
	Carrier string
	Status  int
	Body    string
}

func (e *CarrierError) Error() string {
	return fmt.Sprintf("%s returned %d: %s", e.Carrier, e.Status, e.Body)
}

func newCarrierHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 200
	tr.MaxIdleConnsPerHost = 50
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr}
}

type restCarrier struct {
	name    string
	baseURL string
	apiKey  string
	client  *http.Client
}

func newRESTCarrier(name, baseURL, apiKey string, client *http.Client) *restCarrier {
	return &restCarrier{name: name, baseURL: baseURL, apiKey: apiKey, client: client}
}

func (c *restCarrier) Name() string { return c.name }

func (c *restCarrier) Quote(ctx context.Context, accountNumber string, req QuoteRequest) ([]Quote, error) {
	body := map[string]any{
		"account_number": accountNumber,
		"from":           req.Origin,
		"to":             req.Destination,
		"weight_grams":   req.WeightGrams,
		"service_level":  req.Service,
	}
	var out struct {
		Rates []Quote `json:"rates"`
	}
	if err := c.doWithRetry(ctx, http.MethodPost, "/v2/rates", body, &out); err != nil {
		return nil, err
	}
	for i := range out.Rates {
		out.Rates[i].Carrier = c.name
	}
	return out.Rates, nil
}

func (c *restCarrier) CreateShipment(ctx context.Context, accountNumber string, req ShipmentRequest) (*Shipment, error) {
	body := map[string]any{
		"account_number": accountNumber,
		"service_level":  req.Service,
		"from":           req.Origin,
		"to":             req.Destination,
		"weight_grams":   req.WeightGrams,
		"reference":      req.Reference,
		"label_format":   "PDF",
	}
	var out Shipment
	if err := c.doWithRetry(ctx, http.MethodPost, "/v2/shipments", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// doWithRetry sends a JSON request, retrying network errors, 429 and 5xx with jittered backoff.
func (c *restCarrier) doWithRetry(ctx context.Context, method, path string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			backoff := time.Duration(100<<attempt) * time.Millisecond
			backoff += rand.N(backoff / 2)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
		req.Header.Set("Content-Type", "application/json")

		resp, err := c.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case err != nil:
			lastErr = err
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			lastErr = fmt.Errorf("%s %s: status %d", c.name, path, resp.StatusCode)
		case resp.StatusCode >= 400:
			return &CarrierError{Carrier: c.name, Status: resp.StatusCode, Body: string(data)}
		default:
			return json.Unmarshal(data, out)
		}
	}
	return lastErr
}
