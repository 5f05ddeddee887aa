package storage

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writeQueue is the write-behind of a record kept on the delivery path
// (the notification history, the alert events): add never touches the
// disk, it appends to a bounded in-memory queue (dropping, and counting,
// what does not fit) and wakes the writer; run is the writer, which takes
// the whole queue at once and writes it in one transaction per batch, so
// that a burst costs a few fsyncs, not one per item.
type writeQueue[T any] struct {
	size  int
	batch int
	write func(ctx context.Context, batch []T) error
	// dropped counts, by reason (queue_full, write_error), the items lost.
	dropped *prometheus.CounterVec
	logger  *slog.Logger
	what    string // "notification history", for the log
	// linger is how long the writer waits, once woken, for more items
	// before it writes: fewer, larger transactions where a record may
	// lag (the alert events) a little.
	linger time.Duration

	mu    sync.Mutex // guards queue
	queue []T
	wake  chan struct{} // capacity 1: "the queue is not empty"

	writeMu sync.Mutex // one flush at a time, so rows keep their order
}

// queueFlushTimeout bounds a flush of the writer, and the last one when
// run ends.
const queueFlushTimeout = 10 * time.Second

func newWriteQueue[T any](size, batch int, what string, dropped *prometheus.CounterVec, logger *slog.Logger,
	write func(context.Context, []T) error) *writeQueue[T] {
	dropped.WithLabelValues("queue_full")
	dropped.WithLabelValues("write_error")
	return &writeQueue[T]{size: size, batch: batch, write: write, dropped: dropped, logger: logger, what: what,
		wake: make(chan struct{}, 1)}
}

// add queues items and returns at once; what does not fit is dropped and
// counted.
func (q *writeQueue[T]) add(items ...T) {
	q.mu.Lock()
	n := min(len(items), q.size-len(q.queue))
	q.queue = append(q.queue, items[:max(n, 0)]...)
	q.mu.Unlock()
	if n < len(items) {
		q.dropped.WithLabelValues("queue_full").Add(float64(len(items) - max(n, 0)))
	}
	if n > 0 {
		select {
		case q.wake <- struct{}{}:
		default: // the writer is already woken
		}
	}
}

// run writes queued items until ctx ends, then writes what is still
// queued. Every gcInterval (and at the start) it calls gc.
func (q *writeQueue[T]) run(ctx context.Context, gcInterval time.Duration, gc func(context.Context)) {
	gc(ctx)
	tick := time.NewTicker(gcInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			q.flushLogged(ctx, "Writing the "+q.what+" at shutdown failed")
			return
		case <-q.wake:
			if q.linger > 0 && !q.lingerFor(ctx) {
				q.flushLogged(ctx, "Writing the "+q.what+" at shutdown failed")
				return
			}
			// A batch taken from the queue is written even if ctx ends
			// meanwhile: it is no longer in the queue for the last flush.
			q.flushLogged(ctx, "Writing the "+q.what+" failed")
		case <-tick.C:
			gc(ctx)
		}
	}
}

// lingerFor waits q.linger, or until a batch is queued; false if ctx
// ended first.
func (q *writeQueue[T]) lingerFor(ctx context.Context) bool {
	t := time.NewTimer(q.linger)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-q.wake:
			q.mu.Lock()
			full := len(q.queue) >= q.batch
			q.mu.Unlock()
			if full {
				return true
			}
		}
	}
}

func (q *writeQueue[T]) flushLogged(ctx context.Context, msg string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queueFlushTimeout)
	defer cancel()
	if err := q.flush(fctx); err != nil {
		q.logger.Warn(msg, "err", err)
	}
}

// flush writes every item queued now, and returns once they are durable.
// Items that fail to be written are dropped and counted.
func (q *writeQueue[T]) flush(ctx context.Context) error {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	q.mu.Lock()
	queue := q.queue
	q.queue = nil
	q.mu.Unlock()
	var errs []error
	for batch := range slices.Chunk(queue, q.batch) {
		if err := q.write(ctx, batch); err != nil {
			q.dropped.WithLabelValues("write_error").Add(float64(len(batch)))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
