package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/common/model"
)

// Attempt is one delivery attempt of a notification: what the history of
// notifications records, so that "was I paged, and if not, why?" has an
// answer.
type Attempt struct {
	At       time.Time
	Duration time.Duration
	Receiver string
	// Integration is the kind and index, "webhook/0".
	Integration string
	GroupKey    string
	// Status is "firing" if any alert sent was firing, else "resolved".
	Status string
	Alerts []model.LabelSet
	// Attempt counts the tries of this notification, from 1.
	Attempt int
	// Err is empty on success; Reason classifies a failure.
	Err    string
	Reason string
}

// History records delivery attempts. Record must not block for long: it is
// called on the delivery path.
type History interface {
	Record(ctx context.Context, a Attempt)
}

// Failure reasons, as Alertmanager names them in its metrics.
const (
	ReasonOther            = "other"
	ReasonClientError      = "clientError"
	ReasonServerError      = "serverError"
	ReasonContextCanceled  = "contextCanceledError"
	ReasonDeadlineExceeded = "contextDeadlineExceededError"
)

// FailureReason classifies a delivery error: a notifier's error may say
// its reason by having a method Reason() string; context errors are
// classified here; anything else is "other".
func FailureReason(err error) string {
	var r interface{ Reason() string }
	switch {
	case err == nil:
		return ""
	case errors.As(err, &r):
		return r.Reason()
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return ReasonContextCanceled
	}
	return ReasonOther
}

// ReasonError is an error with a failure reason.
type ReasonError struct {
	Err error
	// Why is one of the Reason* constants.
	Why string
}

func (e *ReasonError) Error() string  { return e.Err.Error() }
func (e *ReasonError) Unwrap() error  { return e.Err }
func (e *ReasonError) Reason() string { return e.Why }

// StatusReason classifies an HTTP status: 4xx clientError, 5xx
// serverError.
func StatusReason(code int) string {
	switch code / 100 {
	case 4:
		return ReasonClientError
	case 5:
		return ReasonServerError
	}
	return ReasonOther
}

func batchStatus(b *Batch) string {
	for _, a := range b.Alerts {
		if !a.ResolvedAt(b.Now) {
			return "firing"
		}
	}
	return "resolved"
}

func batchLabels(b *Batch) []model.LabelSet {
	out := make([]model.LabelSet, len(b.Alerts))
	for i, a := range b.Alerts {
		out[i] = a.Labels
	}
	return out
}
