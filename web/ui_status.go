package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
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
	Name, Health, LastError     string
	Groups, Rules, Unhealthy    int
	LastEvaluation, LastErrorAt time.Time
}

type receiverTest struct {
	Receiver string
	Results  []ReceiverTestResult
	Error    string
	Success  bool
}

// status serves version, uptime, datasource health, receivers and the
// configuration (with secrets hidden).
func (u *ui) status(w http.ResponseWriter, r *http.Request) {
	u.renderStatus(w, r, http.StatusOK, nil)
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
		d.Datasources = datasourceHealth(o.Rules.Groups())
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

// datasourceHealth derives each datasource's health from the rules
// evaluated against it: err if a rule's last evaluation failed, ok once
// evaluations succeed, unknown before any.
func datasourceHealth(groups []evaluator.GroupStatus) []uiDatasource {
	byName := map[string]*uiDatasource{}
	for _, g := range groups {
		name := g.Datasource
		if name == "" {
			name = "(default)"
		}
		ds := byName[name]
		if ds == nil {
			ds = &uiDatasource{Name: name}
			byName[name] = ds
		}
		ds.Groups++
		if g.LastEvaluation.After(ds.LastEvaluation) {
			ds.LastEvaluation = g.LastEvaluation
		}
		for _, rs := range g.Rules {
			ds.Rules++
			if rs.Health == evaluator.HealthErr {
				ds.Unhealthy++
				if ds.LastErrorAt.IsZero() || rs.Last.Time.After(ds.LastErrorAt) {
					ds.LastError, ds.LastErrorAt = rs.LastError, rs.Last.Time
				}
			}
		}
	}
	out := make([]uiDatasource, 0, len(byName))
	for _, ds := range byName {
		switch {
		case ds.Unhealthy > 0:
			ds.Health = string(evaluator.HealthErr)
		case ds.LastEvaluation.IsZero():
			ds.Health = string(evaluator.HealthUnknown)
		default:
			ds.Health = string(evaluator.HealthOK)
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
	u.h.opts.Logger.Info("Test notification sent from the web UI", "receiver", name, "success", t.Success)
	u.renderStatus(w, r, code, t)
}
