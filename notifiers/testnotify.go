package notifiers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// DefaultTestTimeout bounds each integration's test notification (a
// shorter deadline of the caller's context wins).
const DefaultTestTimeout = 10 * time.Second

// testGrace is how long a test waits, after its deadline, for a notifier
// to return.
const testGrace = 100 * time.Millisecond

// Test notifications: one firing alert in a group of its own. The group
// key has the shape of a real one (route key, ":", group labels) with a
// route key, "{}/test", that no configured route can have, so that a
// receiver that deduplicates by group key never mixes it up with a real
// group.
const (
	TestGroupKey = `{}/test:{alertname="TestAlert"}`
	testRouteKey = "{}/test"
)

// TestResult is the outcome of a test notification to one integration.
type TestResult struct {
	// Integration is the kind and index, "webhook/0".
	Integration string
	Success     bool
	// Err says why it failed; nil on success.
	Err      error
	Duration time.Duration
}

// TestBatch returns the notification a receiver test sends: one firing
// alert, TestAlert, whose annotations say that it is a test from alerter,
// due because nothing was sent for its group before.
func TestBatch(receiver string, now time.Time) *dispatch.Batch {
	a := &dispatch.Alert{
		Labels: model.LabelSet{
			model.AlertNameLabel: "TestAlert",
			model.InstanceLabel:  "alerter.test",
			"severity":           "none",
		},
		Annotations: model.LabelSet{
			"summary": "Test notification from alerter",
			"description": model.LabelValue(fmt.Sprintf("This is a test notification that alerter sent to the receiver %q "+
				"to check its configuration. It is not a real alert: nothing needs to be done.", receiver)),
		},
		StartsAt:  now,
		UpdatedAt: now,
	}
	return &dispatch.Batch{
		GroupKey:    TestGroupKey,
		GroupLabels: model.LabelSet{model.AlertNameLabel: "TestAlert"},
		Receiver:    receiver,
		RouteKey:    testRouteKey,
		Alerts:      []*dispatch.Alert{a},
		Now:         now,
		Reason:      dispatch.ReasonFirst,
	}
}

// TestReceiver sends a test notification (TestBatch) to every integration
// of a receiver at once, each bounded by DefaultTestTimeout, and returns
// their outcomes in the order of integrations. It sends once: a test
// should show what the receiver answers, not hide it behind retries.
func TestReceiver(ctx context.Context, receiver string, integrations []dispatch.Integration, now time.Time) []TestResult {
	out := make([]TestResult, len(integrations))
	var wg sync.WaitGroup
	for i, in := range integrations {
		// A batch each: notifiers may keep what they are given.
		b := TestBatch(receiver, now)
		wg.Go(func() { out[i] = testIntegration(ctx, in, b, DefaultTestTimeout) })
	}
	wg.Wait()
	return out
}

// testIntegration sends b to in, bounded by timeout. A notifier that does
// not return when its context ends is left behind rather than waited for:
// the caller gets its answer in time either way.
func testIntegration(ctx context.Context, in dispatch.Integration, b *dispatch.Batch, timeout time.Duration) TestResult {
	r := TestResult{Integration: in.Kind + "/" + strconv.Itoa(in.Index)}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := in.Notifier.Notify(ctx, b)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// Give a notifier that honours ctx the moment it needs to say so.
		select {
		case err = <-done:
		case <-time.After(testGrace):
			err = ctx.Err()
		}
	}
	r.Duration = time.Since(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", r.Duration.Round(time.Millisecond), err)
		}
		r.Err = err
		return r
	}
	r.Success = true
	return r
}
