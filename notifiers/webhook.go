package notifiers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/alerter/alerter/dispatch"
)

// WebhookMessage is Alertmanager's webhook payload, version 4.
type WebhookMessage struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Webhook posts Alertmanager's webhook JSON to a URL.
type Webhook struct {
	url       string
	client    *http.Client
	tmpl      *template.Template
	maxAlerts int
	timeout   time.Duration
	userAgent string
	// slots bounds the requests in flight: thousands of groups flushing
	// at once would otherwise open as many connections (each with its
	// buffers and goroutines) to one endpoint.
	slots chan struct{}
}

// maxInFlight is how many requests one webhook integration sends at once.
const maxInFlight = 32

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	URL       string
	Client    *http.Client
	Template  *template.Template
	MaxAlerts int           // 0: all
	Timeout   time.Duration // 0: the flush deadline only
	UserAgent string
}

// NewWebhook returns a webhook notifier.
func NewWebhook(o WebhookOptions) *Webhook {
	return &Webhook{url: o.URL, client: o.Client, tmpl: o.Template, maxAlerts: o.MaxAlerts,
		timeout: o.Timeout, userAgent: o.UserAgent, slots: make(chan struct{}, maxInFlight)}
}

// Notify implements dispatch.Notifier.
func (w *Webhook) Notify(ctx context.Context, b *dispatch.Batch) (bool, error) {
	alerts := b.Alerts
	var truncated uint64
	if w.maxAlerts > 0 && len(alerts) > w.maxAlerts {
		truncated = uint64(len(alerts) - w.maxAlerts)
		alerts = alerts[:w.maxAlerts]
	}
	msg := WebhookMessage{Data: Data(w.tmpl, b, alerts), Version: "4", GroupKey: b.GroupKey, TruncatedAlerts: truncated}
	body, err := json.Marshal(msg)
	if err != nil {
		return false, fmt.Errorf("encode webhook message: %w", err)
	}
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	case <-ctx.Done():
		return true, fmt.Errorf("waiting for a free connection: %w", ctx.Err())
	}
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	return postJSON(ctx, w.client, w.url, w.userAgent, body)
}

// postJSON posts body and classifies the outcome: 2xx succeeds; 5xx, 429
// and transport errors may be retried; other statuses are final. Errors
// never carry the URL, which often holds a secret.
func postJSON(ctx context.Context, c *http.Client, url, userAgent string, body []byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := c.Do(req)
	if err != nil {
		return true, redactURLError(err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}()
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	err = fmt.Errorf("unexpected status code %d", resp.StatusCode)
	if len(bytes.TrimSpace(detail)) > 0 {
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(detail))
	}
	err = &dispatch.ReasonError{Err: err, Why: dispatch.StatusReason(resp.StatusCode)}
	return resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests, err
}

// redactURLError drops the URL from a transport error, keeping the cause.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s <redacted>: %w", ue.Op, ue.Err)
	}
	return err
}
