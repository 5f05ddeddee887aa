package notifiers

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/config/receiver"
	amnotify "github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// buildUpstream returns the integrations of r's upstream kinds (PagerDuty,
// Opsgenie, Teams, ...): Alertmanager's own notifiers, built by
// Alertmanager's receiver package from the entries its config package
// decoded, each adapted to alerter's pipeline by upstreamNotifier.
func buildUpstream(r *config.Receiver, tmpl *template.Template, o Options) ([]dispatch.Integration, error) {
	if r.Upstream == nil {
		return nil, nil
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var httpOpts []commoncfg.HTTPClientOption
	if o.UserAgent != "" {
		httpOpts = append(httpOpts, commoncfg.WithUserAgent(o.UserAgent))
	}
	ins, err := receiver.BuildReceiverIntegrations(*r.Upstream, tmpl, logger.With("receiver", r.Name), httpOpts...)
	if err != nil {
		return nil, fmt.Errorf("receiver %q: %w", r.Name, err)
	}
	out := make([]dispatch.Integration, 0, len(ins))
	for _, in := range ins {
		out = append(out, dispatch.Integration{
			Kind: in.Name(), Index: in.Index(), SendResolved: in.SendResolved(),
			Notifier: upstreamNotifier{in: in},
		})
	}
	return out, nil
}

// upstreamNotifier delivers a batch through one of Alertmanager's
// notifiers: the batch becomes the alerts and the context values
// Alertmanager's notification pipeline hands its notifiers (group key,
// receiver, group labels, flush time, firing and resolved alerts, reason),
// and the notifier's verdict becomes alerter's retry decision.
type upstreamNotifier struct {
	in amnotify.Integration
}

// Notify implements dispatch.Notifier.
func (u upstreamNotifier) Notify(ctx context.Context, b *dispatch.Batch) (bool, error) {
	alerts := make([]*alert.Alert, len(b.Alerts))
	var firing, resolved []uint64
	for i, a := range b.Alerts {
		alerts[i] = alert.New(model.Alert{
			Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		}, a.UpdatedAt, a.Timeout)
		if a.ResolvedAt(b.Now) {
			resolved = append(resolved, uint64(a.Fingerprint()))
		} else {
			firing = append(firing, uint64(a.Fingerprint()))
		}
	}
	ctx = amnotify.WithGroupKey(ctx, b.GroupKey)
	ctx = amnotify.WithReceiverName(ctx, b.Receiver)
	ctx = amnotify.WithGroupLabels(ctx, b.GroupLabels)
	ctx = amnotify.WithNow(ctx, b.Now)
	ctx = amnotify.WithFiringAlerts(ctx, firing)
	ctx = amnotify.WithResolvedAlerts(ctx, resolved)
	ctx = amnotify.WithNotificationReason(ctx, upstreamReason(b.Reason))
	v := u.in.Notify(ctx, alerts...)
	return v.ShouldRetry(), v.Err()
}

// upstreamReason is Alertmanager's name for why a notification is due.
func upstreamReason(r dispatch.NotifyReason) amnotify.NotifyReason {
	switch r {
	case dispatch.ReasonFirst:
		return amnotify.ReasonFirstNotification
	case dispatch.ReasonNewFiring:
		return amnotify.ReasonNewAlertsInGroup
	case dispatch.ReasonAllResolved:
		return amnotify.ReasonAllAlertsResolved
	case dispatch.ReasonNewResolved:
		return amnotify.ReasonNewResolvedAlerts
	case dispatch.ReasonRepeat:
		return amnotify.ReasonRepeatIntervalElapsed
	default:
		return amnotify.ReasonUnknown
	}
}
