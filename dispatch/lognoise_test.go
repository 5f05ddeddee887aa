package dispatch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// TestDeadReceiverLogsOnChangeOfFailure: 60 groups notify a receiver that
// fails every attempt with a different text for 3 minutes. The log gets one
// warning when it starts failing and one when the kind of failure changes
// (server errors, then refused connections), and one line when it works
// again, instead of one per group and flush (780 lines in 2.5 minutes
// before).
func TestDeadReceiverLogsOnChangeOfFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int64
		var mode atomic.Int32 // 0: 5xx, 1: connection refused, 2: ok
		fail := &fakeNotifier{name: "webhook/0", fn: func(context.Context, *Batch) (bool, error) {
			n := attempts.Add(1)
			switch mode.Load() {
			case 0:
				return true, &ReasonError{Why: ReasonServerError, Err: fmt.Errorf("unexpected status code 500: request %d", n)}
			case 1:
				return true, fmt.Errorf("dial tcp 127.0.0.1:9: connect: connection refused (attempt %d)", n)
			}
			return false, nil
		}}
		var logs syncBuffer
		e := newEnv(t, &config.Route{
			Receiver: "team", GroupBy: []model.LabelName{"alertname"},
			GroupWait: dur(time.Second), GroupInterval: dur(10 * time.Second), RepeatInterval: dur(time.Hour),
		}, withIntegrations("team", Integration{Kind: "webhook", Notifier: fail}), func(o *Options) {
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		start := time.Now()
		for i := range 60 {
			e.put(firing(start, "alertname", fmt.Sprintf("A%d", i)))
		}
		advance(90 * time.Second)
		mode.Store(1)
		advance(90 * time.Second)
		mode.Store(2)
		advance(30 * time.Second)
		require.Greater(t, attempts.Load(), int64(60*10), "every group kept trying")
		require.Equal(t, 2, logs.count("Notification failed"), "one warning per kind of failure")
		require.Equal(t, 1, logs.count("reason=serverError"))
		require.Equal(t, 1, logs.count("reason=other"))
		require.Equal(t, 1, logs.count("Notification delivered again after failures"))
	})
}
