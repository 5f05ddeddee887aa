package dispatch

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// matcher builds one matcher from "name", an operator (=, !=, =~, !~) and
// a value.
func matcher(tb testing.TB, name, op, value string) *labels.Matcher {
	tb.Helper()
	types := map[string]labels.MatchType{
		"=": labels.MatchEqual, "!=": labels.MatchNotEqual,
		"=~": labels.MatchRegexp, "!~": labels.MatchNotRegexp,
	}
	typ, ok := types[op]
	require.True(tb, ok, "operator %q", op)
	m, err := labels.NewMatcher(typ, name, value)
	require.NoError(tb, err)
	return m
}

// matchers builds sorted matchers (as config does) from triples:
// matchers(t, "a", "=", "x", "b", "=~", "y|z").
func matchers(tb testing.TB, triples ...string) labels.Matchers {
	tb.Helper()
	require.Zero(tb, len(triples)%3, "matchers need name, op, value triples")
	var ms labels.Matchers
	for i := 0; i < len(triples); i += 3 {
		ms = append(ms, matcher(tb, triples[i], triples[i+1], triples[i+2]))
	}
	sort.Sort(ms)
	return ms
}

func dur(d time.Duration) *time.Duration { return &d }

// lset builds a label set from name, value pairs.
func lset(kv ...string) model.LabelSet {
	ls := make(model.LabelSet, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	return ls
}

// sentBatch is one Notify call as a fake integration saw it.
type sentBatch struct {
	At          time.Time // clock time of the call (fake inside synctest)
	Receiver    string
	Integration string
	GroupKey    string
	GroupLabels model.LabelSet
	Firing      []string // alertname/instance of the firing alerts, in batch order
	Resolved    []string // same for the resolved ones
	Reason      NotifyReason
	Deadline    time.Time
}

// recorder collects the batches of every fake integration of a test.
type recorder struct {
	mu      sync.Mutex
	batches []sentBatch
}

func (r *recorder) add(b sentBatch) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
}

// all returns a copy of the recorded batches.
func (r *recorder) all() []sentBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentBatch(nil), r.batches...)
}

// to returns the batches one receiver's integration got.
func (r *recorder) to(receiver string) []sentBatch {
	var out []sentBatch
	for _, b := range r.all() {
		if b.Receiver == receiver {
			out = append(out, b)
		}
	}
	return out
}

// alertID names an alert in recorded batches: its alertname, and its
// instance if it has one.
func alertID(a *Alert) string {
	id := string(a.Labels[model.AlertNameLabel])
	if inst, ok := a.Labels["instance"]; ok {
		id += "/" + string(inst)
	}
	return id
}

// fakeNotifier records every call and answers with fn (success if nil).
type fakeNotifier struct {
	name string
	rec  *recorder
	fn   func(ctx context.Context, b *Batch) (bool, error)
}

func (n *fakeNotifier) Notify(ctx context.Context, b *Batch) (bool, error) {
	sb := sentBatch{
		At: time.Now(), Receiver: b.Receiver, Integration: n.name, GroupKey: b.GroupKey,
		GroupLabels: b.GroupLabels, Reason: b.Reason,
	}
	sb.Deadline, _ = ctx.Deadline()
	for _, a := range b.Alerts {
		if a.ResolvedAt(b.Now) {
			sb.Resolved = append(sb.Resolved, alertID(a))
		} else {
			sb.Firing = append(sb.Firing, alertID(a))
		}
	}
	if n.rec != nil {
		n.rec.add(sb)
	}
	if n.fn != nil {
		return n.fn(ctx, b)
	}
	return false, nil
}

// memPersister is a LogPersister in memory, with an optional hook run
// inside SaveNotificationLog before the write is applied, and an optional
// error.
type memPersister struct {
	mu      sync.Mutex
	entries map[string]LogEntry
	err     error
	saves   int
	hook    func(entries []LogEntry, expiredBy time.Time)
	// honorCtx fails writes with a done ctx, as storage.DB.Write does.
	honorCtx bool
}

func newMemPersister() *memPersister { return &memPersister{entries: map[string]LogEntry{}} }

func (p *memPersister) LoadNotificationLog(context.Context) ([]LogEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	out := make([]LogEntry, 0, len(p.entries))
	for _, e := range p.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (p *memPersister) SaveNotificationLog(ctx context.Context, entries []LogEntry, expiredBy time.Time) error {
	p.mu.Lock()
	if p.honorCtx && ctx.Err() != nil {
		p.mu.Unlock()
		return ctx.Err()
	}
	hook := p.hook
	p.hook = nil // run once, and let it call back into the log
	p.mu.Unlock()
	if hook != nil {
		hook(entries, expiredBy)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saves++
	if p.err != nil {
		return p.err
	}
	for _, e := range entries {
		p.entries[e.Key] = e
	}
	for k, e := range p.entries {
		if !expiredBy.IsZero() && !e.ExpiresAt.After(expiredBy) {
			delete(p.entries, k)
		}
	}
	return nil
}

func (p *memPersister) get(key string) (LogEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[key]
	return e, ok
}

// env is a Store, a Dispatcher and a NotificationLog wired together with
// one fake webhook integration per receiver, all sending to one recorder.
type env struct {
	t       *testing.T
	store   *Store
	disp    *Dispatcher
	log     *NotificationLog
	rec     *recorder
	route   *Route
	opts    Options
	cfgRoot *config.Route
}

// envOption changes the Options of a test dispatcher before it is built.
type envOption func(*Options)

// receivers of a config tree, in tree order.
func receiverNames(r *config.Route) []string {
	var names []string
	var walk func(*config.Route)
	walk = func(r *config.Route) {
		if r.Receiver != "" && !containsString(names, r.Receiver) {
			names = append(names, r.Receiver)
		}
		for _, c := range r.Routes {
			walk(c)
		}
	}
	walk(r)
	return names
}

// newEnv builds a store and a dispatcher for the routing tree cfg, with
// one send_resolved webhook per receiver. It must run inside the synctest
// bubble of the test (or with real time for tests that never wait).
func newEnv(t *testing.T, cfg *config.Route, opts ...envOption) *env {
	t.Helper()
	rec := &recorder{}
	nlog, err := NewNotificationLog(context.Background(), nil, 120*time.Hour)
	require.NoError(t, err)
	e := &env{t: t, rec: rec, log: nlog, cfgRoot: cfg}
	e.opts = Options{
		Route:     NewRoute(cfg),
		Receivers: map[string][]Integration{},
		Log:       nlog,
	}
	for _, name := range receiverNames(cfg) {
		e.opts.Receivers[name] = []Integration{{
			Kind: "webhook", SendResolved: true,
			Notifier: &fakeNotifier{name: "webhook/0", rec: rec},
		}}
	}
	for _, o := range opts {
		o(&e.opts)
	}
	e.log = e.opts.Log
	e.route = e.opts.Route
	e.store = NewStore(5*time.Minute, nil)
	e.disp = e.newDispatcher()
	require.Nil(t, e.store.SetDispatcher(e.disp))
	t.Cleanup(func() { e.store.SetDispatcher(nil); e.disp.Stop() })
	return e
}

// newDispatcher builds another dispatcher from the env's options.
func (e *env) newDispatcher() *Dispatcher {
	d, err := NewDispatcher(e.opts)
	require.NoError(e.t, err)
	return d
}

// put sends alerts to the store.
func (e *env) put(alerts ...*Alert) { require.NoError(e.t, e.store.Put(alerts)) }

// advance moves the fake clock by d and lets every goroutine settle.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// firing returns an alert that started at start and is explicitly firing
// for a day (as a sender that re-sends would keep it), with labels kv.
func firing(start time.Time, kv ...string) *Alert {
	return &Alert{Labels: lset(kv...), StartsAt: start, EndsAt: start.Add(24 * time.Hour)}
}

// resolved returns the alert with labels kv, started at start, ended at end.
func resolved(start, end time.Time, kv ...string) *Alert {
	return &Alert{Labels: lset(kv...), StartsAt: start, EndsAt: end}
}

// withIntervals sets the dispatcher's named time intervals.
func withIntervals(ti map[string][]timeinterval.TimeInterval) envOption {
	return func(o *Options) { o.TimeIntervals = timeinterval.NewIntervener(ti) }
}

// withIntegrations replaces a receiver's integrations.
func withIntegrations(receiver string, ins ...Integration) envOption {
	return func(o *Options) { o.Receivers[receiver] = ins }
}

// ids joins alert IDs for compact assertions.
func ids(ss []string) string { return strings.Join(ss, ",") }

// withLog makes the dispatcher use l.
func withLog(l *NotificationLog) envOption {
	return func(o *Options) { o.Log = l }
}

// logEntries returns a copy of every entry of l, sorted by key.
func logEntries(l *NotificationLog) []LogEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]LogEntry, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// confirmed returns the entries of l that record a confirmed notification.
func confirmed(l *NotificationLog) []LogEntry {
	var out []LogEntry
	for _, e := range logEntries(l) {
		if !e.SentAt.IsZero() {
			out = append(out, e)
		}
	}
	return out
}

// pending returns the entries of l with notifications started and not
// confirmed.
func pending(l *NotificationLog) []LogEntry {
	var out []LogEntry
	for _, e := range logEntries(l) {
		if len(e.Pending) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// firingUntil returns an alert with labels kv, started at start, that ends
// (explicitly) at end.
func firingUntil(start, end time.Time, kv ...string) *Alert {
	return &Alert{Labels: lset(kv...), StartsAt: start, EndsAt: end}
}

// at formats a fake-clock time as an offset from t0, for messages.
func at(t0 time.Time, bs []sentBatch) []time.Duration {
	out := make([]time.Duration, len(bs))
	for i, b := range bs {
		out[i] = b.At.Sub(t0)
	}
	return out
}
