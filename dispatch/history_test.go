package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

type historyRecorder struct {
	mu       sync.Mutex
	attempts []Attempt
}

func (h *historyRecorder) Record(_ context.Context, a Attempt) {
	h.mu.Lock()
	h.attempts = append(h.attempts, a)
	h.mu.Unlock()
}

// Every attempt is recorded: a retried failure with its reason, then the
// success, with receiver, integration, group, status and alerts.
func TestHistoryRecordsEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &historyRecorder{}
		calls := 0
		n := &fakeNotifier{name: "webhook/0", fn: func(context.Context, *Batch) (bool, error) {
			calls++
			if calls == 1 {
				return true, &ReasonError{Err: errors.New("unexpected status code 503"), Why: ReasonServerError}
			}
			return false, nil
		}}
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: n}),
			func(o *Options) { o.History = h })
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(time.Minute)
		require.Len(t, h.attempts, 2)
		first, second := h.attempts[0], h.attempts[1]
		require.Equal(t, t0.Add(30*time.Second), first.At)
		require.Equal(t, "r", first.Receiver)
		require.Equal(t, "webhook/0", first.Integration)
		require.Equal(t, `{}:{alertname="A"}`, first.GroupKey)
		require.Equal(t, "firing", first.Status)
		require.Equal(t, []model.LabelSet{{"alertname": "A"}}, first.Alerts)
		require.Equal(t, 1, first.Attempt)
		require.Equal(t, "unexpected status code 503", first.Err)
		require.Equal(t, ReasonServerError, first.Reason)
		require.Equal(t, 2, second.Attempt)
		require.Empty(t, second.Err)
		require.Empty(t, second.Reason)
		require.True(t, second.At.After(first.At), "after a backoff")
	})
}

func TestFailureReason(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                   "",
		errors.New("boom"):                    ReasonOther,
		context.DeadlineExceeded:              ReasonDeadlineExceeded,
		fmt.Errorf("x: %w", context.Canceled): ReasonContextCanceled,
		fmt.Errorf("attempt 3: %w", &ReasonError{Err: errors.New("401"), Why: ReasonClientError}): ReasonClientError,
	} {
		require.Equal(t, want, FailureReason(err), "%v", err)
	}
	require.Equal(t, ReasonClientError, StatusReason(404))
	require.Equal(t, ReasonServerError, StatusReason(502))
	require.Equal(t, ReasonOther, StatusReason(302))
}
