// Package remotewrite sends the samples that rules produce (recorded
// series, ALERTS and ALERTS_FOR_STATE) to a Prometheus remote-write
// endpoint (protocol 1.0: snappy-compressed protobuf), through a bounded
// queue that never makes evaluation wait.
package remotewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
)

// Options configure a Queue; the zero values take the defaults noted.
type Options struct {
	// Name identifies the queue in metrics and logs (the datasource's).
	Name string
	// URL is the endpoint, Client the HTTP client that posts to it
	// (authentication, TLS) and Headers extra headers of each request.
	URL     string
	Client  *http.Client
	Headers map[string]string
	// Timeout bounds each request. Default 30s.
	Timeout time.Duration
	// Shards send concurrently; a series always goes through the same
	// one, so its samples arrive in order. Default 4.
	Shards int
	// Capacity is how many samples each shard holds waiting; MaxBytes how
	// many bytes (of label names and values, and 16 per sample) the whole
	// queue holds. A sample that finds its shard full is dropped and
	// counted (reason queue_full). Defaults 10,000 and 64 MiB.
	Capacity int
	MaxBytes int
	// MaxSamplesPerSend is the most samples in one request; a shard sends
	// what it holds after BatchSendDeadline at the latest. Defaults 2,000
	// and 5s.
	MaxSamplesPerSend int
	BatchSendDeadline time.Duration
	// A failed request (5xx, 429, or no answer) is tried again after
	// MinBackoff, doubling to MaxBackoff; a Retry-After header of a 429
	// or 5xx answer is honoured (up to a minute). A 4xx other than 429
	// (and 429 without RetryOn429) drops the request's samples. Defaults
	// 30ms, 5s.
	MinBackoff, MaxBackoff time.Duration
	RetryOn429             bool
	// ExternalLabels are added to every series that lacks them.
	ExternalLabels labels.Labels
	Metrics        *Metrics
	Logger         *slog.Logger
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Shards <= 0 {
		o.Shards = 4
	}
	if o.Capacity <= 0 {
		o.Capacity = 10000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxSamplesPerSend <= 0 {
		o.MaxSamplesPerSend = 2000
	}
	if o.BatchSendDeadline <= 0 {
		o.BatchSendDeadline = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = min(30*time.Millisecond, o.MaxBackoff)
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Queue batches samples per shard and sends them. Append never blocks;
// Close flushes for a bounded time.
type Queue struct {
	opts   Options
	shards []*shard
	m      queueMetrics
	// bytes is what the queue holds, against MaxBytes.
	mu    sync.Mutex
	bytes int

	ctx    context.Context // ends when Close gives up
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is a queued sample and its size against MaxBytes.
type entry struct {
	s    promql.Sample
	size int
}

type shard struct {
	q       *Queue
	mu      sync.Mutex
	pending []entry
	closing bool
	wake    chan struct{}
}

// New starts a queue; Close stops it.
func New(opts Options) *Queue {
	opts.defaults()
	q := &Queue{opts: opts, m: opts.Metrics.forQueue(opts.Name)}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.m.shards.Set(float64(opts.Shards))
	for range opts.Shards {
		sh := &shard{q: q, wake: make(chan struct{}, 1)}
		q.shards = append(q.shards, sh)
		q.wg.Go(sh.run)
	}
	return q
}

// Append queues samples. Those that find their shard (or the queue's bytes)
// full are dropped and counted; the error says how many, for the caller's
// log. It never waits for the endpoint.
func (q *Queue) Append(_ context.Context, samples []promql.Sample) error {
	dropped := 0
	var highest int64
	for _, s := range samples {
		s.Metric = q.withExternal(s.Metric)
		e := entry{s: s, size: sampleSize(s.Metric)}
		sh := q.shards[s.Metric.Hash()%uint64(len(q.shards))]
		if !q.reserve(e.size) {
			dropped++
			continue
		}
		sh.mu.Lock()
		if sh.closing || len(sh.pending) >= q.opts.Capacity {
			sh.mu.Unlock()
			q.release(e.size)
			dropped++
			continue
		}
		sh.pending = append(sh.pending, e)
		full := len(sh.pending) >= q.opts.MaxSamplesPerSend
		q.m.pending.Inc() // before the shard can send it
		sh.mu.Unlock()
		highest = max(highest, s.T)
		if full {
			sh.signal()
		}
	}
	if highest > 0 {
		q.m.highestIn.observe(highest)
	}
	if dropped > 0 {
		q.m.dropped.WithLabelValues(q.opts.Name, "queue_full").Add(float64(dropped))
		return fmt.Errorf("remote write %s: queue full, %d of %d samples dropped", q.opts.Name, dropped, len(samples))
	}
	return nil
}

// withExternal adds the external labels the series lacks.
func (q *Queue) withExternal(ls labels.Labels) labels.Labels {
	if q.opts.ExternalLabels.IsEmpty() {
		return ls
	}
	b := labels.NewBuilder(ls)
	q.opts.ExternalLabels.Range(func(l labels.Label) {
		if !ls.Has(l.Name) {
			b.Set(l.Name, l.Value)
		}
	})
	return b.Labels()
}

func sampleSize(ls labels.Labels) int {
	n := 16
	ls.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) })
	return n
}

func (q *Queue) reserve(n int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bytes+n > q.opts.MaxBytes {
		return false
	}
	q.bytes += n
	return true
}

func (q *Queue) release(n int) {
	q.mu.Lock()
	q.bytes -= n
	q.mu.Unlock()
}

// Close sends what the queue holds until ctx ends, then drops the rest
// (counted, reason shutdown) and stops.
func (q *Queue) Close(ctx context.Context) {
	for _, sh := range q.shards {
		sh.mu.Lock()
		sh.closing = true
		sh.mu.Unlock()
		sh.signal()
	}
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		q.cancel()
		<-done
	}
	q.cancel()
}

func (sh *shard) signal() {
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// run sends batches until the queue closes and holds nothing more, or
// Close gives up.
func (sh *shard) run() {
	q := sh.q
	t := time.NewTimer(q.opts.BatchSendDeadline)
	defer t.Stop()
	for {
		select {
		case <-q.ctx.Done():
			sh.dropAll("shutdown")
			return
		case <-sh.wake:
		case <-t.C:
		}
		// Until Close gives up (the next round drops what is left).
		for q.ctx.Err() == nil {
			batch, closing := sh.take()
			if len(batch) == 0 {
				if closing {
					return
				}
				break
			}
			sh.send(batch)
			if len(batch) < q.opts.MaxSamplesPerSend && !closing {
				break
			}
		}
		t.Reset(q.opts.BatchSendDeadline)
	}
}

// take removes up to MaxSamplesPerSend samples from the shard.
func (sh *shard) take() ([]entry, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := min(len(sh.pending), sh.q.opts.MaxSamplesPerSend)
	batch := slices.Clone(sh.pending[:n])
	sh.pending = slices.Delete(sh.pending, 0, n)
	return batch, sh.closing
}

func (sh *shard) dropAll(reason string) {
	sh.mu.Lock()
	rest := sh.pending
	sh.pending = nil
	sh.mu.Unlock()
	sh.q.done(rest)
	if len(rest) > 0 {
		sh.q.m.dropped.WithLabelValues(sh.q.opts.Name, reason).Add(float64(len(rest)))
	}
}

// done releases what batch held.
func (q *Queue) done(batch []entry) {
	size := 0
	for _, e := range batch {
		size += e.size
	}
	q.release(size)
	q.m.pending.Sub(float64(len(batch)))
}

// send posts batch until it is taken, refused for good, or the queue gives
// up; the samples are counted as sent, failed (each failed attempt) and
// dropped.
func (sh *shard) send(batch []entry) {
	q := sh.q
	defer q.done(batch)
	body, highest, err := encode(batch)
	if err != nil {
		q.m.dropped.WithLabelValues(q.opts.Name, "encode").Add(float64(len(batch)))
		q.opts.Logger.Error("Encoding remote write samples failed; dropped", "remote", q.opts.Name, "err", err)
		return
	}
	backoff := q.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		retry, wait, err := q.post(body)
		q.m.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			q.m.sent.Add(float64(len(batch)))
			q.m.highestSent.observe(highest)
			if attempt > 1 {
				q.opts.Logger.Info("Remote write works again", "remote", q.opts.Name, "attempts", attempt)
			}
			return
		}
		q.m.failed.Add(float64(len(batch)))
		if !retry {
			q.m.dropped.WithLabelValues(q.opts.Name, "refused").Add(float64(len(batch)))
			q.opts.Logger.Error("Remote write refused samples; dropped", "remote", q.opts.Name, "samples", len(batch), "err", err)
			return
		}
		if attempt == 1 {
			q.opts.Logger.Warn("Remote write failed; retried with backoff", "remote", q.opts.Name, "err", err)
		}
		if wait <= 0 {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, q.opts.MaxBackoff)
		}
		q.m.retried.Add(float64(len(batch)))
		t := time.NewTimer(wait)
		select {
		case <-q.ctx.Done():
			t.Stop()
			q.m.dropped.WithLabelValues(q.opts.Name, "shutdown").Add(float64(len(batch)))
			return
		case <-t.C:
		}
	}
}

// maxErrorBody bounds what is read of an answer's body (for the error).
const maxErrorBody = 1024

// post sends one request. It reports whether a failure may be retried, and
// how long the endpoint asked to wait (Retry-After).
func (q *Queue) post(body []byte) (retry bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(q.ctx, q.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	for k, v := range q.opts.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "alerter")
	resp, err := q.opts.Client.Do(req)
	if err != nil {
		return true, 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode/100 == 2 {
		return false, 0, nil
	}
	err = fmt.Errorf("%s answered %s: %s", q.opts.URL, resp.Status, bytes.TrimSpace(msg))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return q.opts.RetryOn429, retryAfter(resp.Header.Get("Retry-After")), err
	case resp.StatusCode/100 == 5:
		return true, retryAfter(resp.Header.Get("Retry-After")), err
	default:
		return false, 0, err
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), at most
// a minute; 0 when absent or unreadable.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(h); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), time.Minute)
}

// encode returns the samples as a snappy-compressed remote-write request,
// one time series per sample as Prometheus sends them (a series' samples
// keep their order), and the highest timestamp among them.
func encode(batch []entry) ([]byte, int64, error) {
	n := 0
	for _, e := range batch {
		n += e.s.Metric.Len()
	}
	var (
		req     = prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(batch))}
		lbls    = make([]prompb.Label, 0, n) // every series' labels, one allocation
		smpls   = make([]prompb.Sample, len(batch))
		highest int64
	)
	for i, e := range batch {
		start := len(lbls)
		e.s.Metric.Range(func(l labels.Label) { lbls = append(lbls, prompb.Label{Name: l.Name, Value: l.Value}) })
		smpls[i] = prompb.Sample{Value: e.s.F, Timestamp: e.s.T}
		req.Timeseries[i] = prompb.TimeSeries{Labels: lbls[start:len(lbls):len(lbls)], Samples: smpls[i : i+1 : i+1]}
		highest = max(highest, e.s.T)
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, 0, err
	}
	return snappy.Encode(nil, raw), highest, nil
}
