package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/alerter/alerter/evaluator"
)

type statusData struct {
	Version, Revision, GoVersion string
	Started                      time.Time
	Uptime                       time.Duration
	Config                       string
	Receivers                    []string
	CanTest                      bool
	Datasources                  []uiDatasource
	Test                         *receiverTest
	// Clustered is set when replicas share the database; Replicas lists
	// the live ones, or ClusterError says why they cannot be read.
	Clustered    bool
	Replicas     []Peer
	ClusterError string
}

type uiDatasource struct {
	Name, Health string
	// PingError is why the datasource did not answer the ping (the query
	// "1"); Pinged is set when it was asked, PingTook how long it took.
	PingError string
	Pinged    bool
	PingTook  time.Duration
	// Groups and Rules query it; Unhealthy of those rules failed last.
	Groups, Rules, Unhealthy int
	// LastSuccess is the last evaluation of a rule that succeeded on it.
	LastEvaluation, LastSuccess time.Time
	// LastRuleError is the latest failing rule's error, and LastErrorRule
	// that rule: a rule's fault, not the datasource's health.
	LastRuleError, LastErrorRule string
	LastErrorAt                  time.Time
}

// DatasourceLister gives the current configuration's datasources by name
// (the default one also under ""); a RuleSource may implement it, and the
// status page then pings them.
type DatasourceLister interface {
	Datasources() map[string]evaluator.Datasource
}

// pingTimeout bounds a datasource's ping from the status page.
const pingTimeout = 5 * time.Second

type receiverTest struct {
	Receiver string
	Results  []ReceiverTestResult
	Error    string
	Success  bool
}

// status serves version, uptime, datasource health, receivers and the
// configuration (with secrets hidden).
func (u *ui) status(w http.ResponseWriter, r *http.Request) {
	var t *receiverTest
	if key := r.URL.Query().Get("test"); key != "" {
		if t = u.tests.get(key); t == nil {
			t = &receiverTest{Error: "this test's result is no longer kept: send it again"}
		}
	}
	u.renderStatus(w, r, http.StatusOK, t)
}

func (u *ui) renderStatus(w http.ResponseWriter, r *http.Request, code int, test *receiverTest) {
	o := u.h.opts
	d := &statusData{Version: o.Version, Revision: o.Revision, GoVersion: o.GoVersion, Started: o.StartTime, CanTest: o.TestReceiver != nil, Test: test}
	if !o.StartTime.IsZero() {
		d.Uptime = time.Since(o.StartTime)
	}
	if o.Routing != nil {
		d.Config, d.Receivers = o.Routing.ConfigYAML(), o.Routing.ReceiverNames()
	}
	if o.Rules != nil {
		d.Datasources = datasourceHealth(r.Context(), o.Rules)
	}
	if o.Cluster != nil {
		d.Clustered = true
		_, peers, err := o.Cluster(r.Context())
		if err != nil {
			d.ClusterError = "reading the replicas failed: " + err.Error()
		}
		d.Replicas = peers
	}
	u.render(w, r, code, "status", pageData{Title: "Status", Nav: "status", Data: d})
}

// datasourceHealth tells each datasource's health: from its answer to a
// ping (the query "1", through the rules' own client) when the rule
// source lists the datasources, else from its rules' last evaluations
// (ok once one succeeded). Failing rules are counted and the latest
// error shown, but one bad query does not make a datasource unhealthy.
func datasourceHealth(ctx context.Context, rules RuleSource) []uiDatasource {
	var all map[string]evaluator.Datasource
	if l, ok := rules.(DatasourceLister); ok {
		all = l.Datasources()
	}
	name := func(n string) string {
		if n == "" {
			if ds, ok := all[""]; ok {
				return ds.Name
			}
			return "(default)"
		}
		return n
	}
	byName := map[string]*uiDatasource{}
	get := func(n string) *uiDatasource {
		ds := byName[n]
		if ds == nil {
			ds = &uiDatasource{Name: n}
			byName[n] = ds
		}
		return ds
	}
	for n := range all {
		get(name(n))
	}
	for _, g := range rules.Groups() {
		ds := get(name(g.Datasource))
		ds.Groups++
		if g.LastEvaluation.After(ds.LastEvaluation) {
			ds.LastEvaluation = g.LastEvaluation
		}
		for _, rs := range g.Rules {
			ds.Rules++
			if rs.Health == evaluator.HealthErr {
				ds.Unhealthy++
				if ds.LastErrorAt.IsZero() || rs.Last.Time.After(ds.LastErrorAt) {
					ds.LastRuleError, ds.LastErrorRule, ds.LastErrorAt = rs.LastError, rs.Name, rs.Last.Time
				}
			}
			for _, e := range rs.History {
				if e.Err == "" && e.Time.After(ds.LastSuccess) {
					ds.LastSuccess = e.Time
				}
			}
		}
	}
	// Ping every datasource at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for n, d := range all {
		if n == "" || d.Querier == nil {
			continue
		}
		ds := byName[name(n)]
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			start := time.Now()
			_, err := d.Querier.Query(pctx, "1", start)
			mu.Lock()
			defer mu.Unlock()
			ds.Pinged, ds.PingTook = true, time.Since(start)
			if err != nil {
				ds.PingError = err.Error()
			}
		})
	}
	wg.Wait()
	out := make([]uiDatasource, 0, len(byName))
	for _, ds := range byName {
		switch {
		case ds.Pinged && ds.PingError != "":
			ds.Health = string(evaluator.HealthErr)
		case ds.Pinged:
			ds.Health = string(evaluator.HealthOK)
		case !ds.LastSuccess.IsZero():
			ds.Health = string(evaluator.HealthOK)
		case ds.Unhealthy > 0:
			ds.Health = string(evaluator.HealthErr)
		default:
			ds.Health = string(evaluator.HealthUnknown)
		}
		out = append(out, *ds)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// receiverTestTimeout bounds a test notification sent from the UI.
const receiverTestTimeout = 30 * time.Second

// testReceiver sends a test notification to a receiver and shows the
// status page with each integration's outcome.
func (u *ui) testReceiver(w http.ResponseWriter, r *http.Request) {
	if u.h.opts.TestReceiver == nil {
		u.fail(w, r, http.StatusNotFound, errors.New("receiver tests are not available"))
		return
	}
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), receiverTestTimeout)
	defer cancel()
	res, err := u.h.opts.TestReceiver(ctx, name)
	t := &receiverTest{Receiver: name, Results: res, Success: err == nil}
	code := http.StatusOK
	switch {
	case errors.Is(err, ErrNotFound):
		t.Error, code = err.Error(), http.StatusNotFound
	case err != nil:
		t.Error, code = err.Error(), http.StatusInternalServerError
	}
	for _, x := range res {
		t.Success = t.Success && x.Success
	}
	if err == nil && len(res) == 0 {
		t.Success, t.Error = false, noIntegrations
	}
	u.h.opts.Logger.Info("Test notification sent from the web UI", "receiver", name, "success", t.Success)
	if code != http.StatusOK {
		u.renderStatus(w, r, code, t)
		return
	}
	// Post/redirect/get: reloading the page shows the result again and
	// sends nothing.
	http.Redirect(w, r, u.url("/status")+"?test="+u.tests.put(t)+"#receivers", http.StatusSeeOther)
}

// testResults keeps the receiver tests' results for the page the test's
// redirect shows: the newest testResultsMax, for testResultsTTL.
type testResults struct {
	mu    sync.Mutex
	byKey map[string]*receiverTest
	order []string
	at    map[string]time.Time
}

const (
	testResultsMax = 100
	testResultsTTL = 10 * time.Minute
)

func (tr *testResults) put(t *receiverTest) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	key := hex.EncodeToString(b[:])
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.byKey == nil {
		tr.byKey, tr.at = map[string]*receiverTest{}, map[string]time.Time{}
	}
	if len(tr.order) >= testResultsMax {
		old := tr.order[0]
		tr.order = tr.order[1:]
		delete(tr.byKey, old)
		delete(tr.at, old)
	}
	tr.byKey[key], tr.at[key] = t, time.Now()
	tr.order = append(tr.order, key)
	return key
}

func (tr *testResults) get(key string) *receiverTest {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if t, ok := tr.byKey[key]; ok && time.Since(tr.at[key]) < testResultsTTL {
		return t
	}
	return nil
}
