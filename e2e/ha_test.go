package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// haSink is a webhook receiver that records every delivery, with the
// replica that sent it (the payload's externalURL), and answers after
// delay, so that a replica can be killed while it sends.
type haSink struct {
	*httptest.Server
	delay time.Duration

	mu         sync.Mutex
	deliveries []haDelivery
	inFlight   map[string][]string // sender → keys being delivered
	arrived    chan string         // senders, as requests arrive (dropped when full)
}

// haDelivery is one notification as received.
type haDelivery struct {
	At     time.Time
	Sender string // the sending replica's external URL
	Key    string // alertname/status
}

func newHASink(t *testing.T, delay time.Duration) *haSink {
	s := &haSink{delay: delay, inFlight: map[string][]string{}, arrived: make(chan string, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct {
			ExternalURL string            `json:"externalURL"`
			Status      string            `json:"status"`
			GroupLabels map[string]string `json:"groupLabels"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body is not JSON: %v", err)
			return
		}
		key := m.GroupLabels["alertname"] + "/" + m.Status
		s.mu.Lock()
		s.deliveries = append(s.deliveries, haDelivery{At: time.Now(), Sender: m.ExternalURL, Key: key})
		s.inFlight[m.ExternalURL] = append(s.inFlight[m.ExternalURL], key)
		s.mu.Unlock()
		select {
		case s.arrived <- m.ExternalURL:
		default:
		}
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
		}
		s.mu.Lock()
		fl := s.inFlight[m.ExternalURL]
		if i := slices.Index(fl, key); i >= 0 {
			s.inFlight[m.ExternalURL] = slices.Delete(fl, i, i+1)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// counts returns the deliveries per key.
func (s *haSink) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, d := range s.deliveries {
		out[d.Key]++
	}
	return out
}

// last returns the key of the last delivery of alertname by sender, or "".
func (s *haSink) last(sender, alertname string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.deliveries) - 1; i >= 0; i-- {
		d := s.deliveries[i]
		if d.Sender == sender && strings.HasPrefix(d.Key, alertname+"/") {
			return d.Key
		}
	}
	return ""
}

// claimedBy returns the alertnames of the notification log entries whose
// claim replica holds (unconfirmed: it never ended them).
func claimedBy(t *testing.T, pg *testutil.PrivatePostgres, replica string) []string {
	t.Helper()
	db, err := sql.Open("pgx", pg.URL)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT key FROM notification_log WHERE owner LIKE $1`, replica+"/%")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	re := regexp.MustCompile(`alertname="([^"]+)"`)
	for rows.Next() {
		var key string
		require.NoError(t, rows.Scan(&key))
		if m := re.FindStringSubmatch(key); m != nil {
			out = append(out, m[1])
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// sending returns the keys sender is delivering now.
func (s *haSink) sending(sender string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.inFlight[sender])
}

// haConfig is a cluster's configuration: every alert posted or produced by
// the rule group "ha" goes to the sink, one group per alertname.
func haConfig(sinkURL string) map[string]string {
	return map[string]string{
		"alerter.yml": `
global:
  evaluation_interval: 2s
datasources:
  - name: local
    type: embedded
rule_files: [rules.yml]
route:
  receiver: sink
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: '` + sinkURL + `/notify'
        send_resolved: true
`,
		"rules.yml": `
groups:
  - name: ha
    rules:
      - alert: HARule
        expr: vector(1)
        labels: {source: rule}
`,
	}
}

// haReplica is one alerter process of a cluster, restartable on its address.
type haReplica struct {
	p    *testutil.Process
	addr string
	url  string
	dir  string
	db   string
}

func startHAReplica(t *testing.T, dir, dbURL, addr string) *haReplica {
	t.Helper()
	r := &haReplica{addr: addr, url: "http://" + addr, dir: dir, db: dbURL}
	r.start(t)
	return r
}

func (r *haReplica) start(t *testing.T) {
	t.Helper()
	r.p = testutil.Start(t, testutil.AlerterBinary(t), "--config.file="+filepath.Join(r.dir, "alerter.yml"),
		"--storage.path="+t.TempDir(), "--storage.url="+r.db, "--web.listen-address="+r.addr,
		"--web.external-url="+r.url, "--log.level=debug")
	testutil.WaitHTTP(t, r.p, r.url+"/-/ready", 60*time.Second)
}

// name returns the replica's name in the cluster (/api/v2/status).
func (r *haReplica) name(t *testing.T) string {
	t.Helper()
	code, body, err := testutil.Get(r.url + "/api/v2/status")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var st struct {
		Cluster struct {
			Name string `json:"name"`
		} `json:"cluster"`
	}
	require.NoError(t, json.Unmarshal(body, &st))
	return st.Cluster.Name
}

// metric sums the samples of the series that match re in the replica's
// /metrics; ok is false when it does not answer.
func (r *haReplica) metric(re *regexp.Regexp) (float64, bool) {
	code, body, err := testutil.Get(r.url + "/metrics")
	if err != nil || code != http.StatusOK {
		return 0, false
	}
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum += v
		}
	}
	return sum, true
}

// postAlert posts one alert to every replica, as a Prometheus configured
// with all of them does; replicas that do not answer are skipped.
func postAlert(replicas []*haReplica, name string, ends time.Time) {
	body := fmt.Sprintf(`[{"labels":{"alertname":%q,"severity":"page"}`, name)
	if !ends.IsZero() {
		body += fmt.Sprintf(`,"endsAt":%q`, ends.Format(time.RFC3339Nano))
	}
	body += `}]`
	for _, r := range replicas {
		resp, err := http.Post(r.url+"/api/v2/alerts", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
	}
}

// TestHAKillLoop: three replicas on one PostgreSQL, alerts posted to all of
// them and produced by a rule; in each of 20 rounds a replica is killed
// with SIGKILL (every third round the one sending a notification, mid-send)
// and restarted, and every fifth round PostgreSQL restarts as after a
// crash. Every notification (each alert's firing and resolve, the rule's
// alert) arrives, once: a second delivery is allowed only for a
// notification whose sender was killed while the receiver held it (the
// window the README states). Every silence a replica acknowledged is still
// there at the end, on every replica.
func TestHAKillLoop(t *testing.T) {
	t.Parallel()
	pg := testutil.StartPrivatePostgres(t)
	sink := newHASink(t, 700*time.Millisecond)
	dir := t.TempDir()
	writeFiles(t, dir, haConfig(sink.URL))
	var replicas []*haReplica
	for range 3 {
		replicas = append(replicas, startHAReplica(t, dir, pg.URL, testutil.FreeAddr(t)))
	}
	byURL := map[string]*haReplica{}
	for _, r := range replicas {
		byURL[r.url] = r
	}

	const rounds = 20
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	window := map[string]int{} // key → deliveries whose sender was killed mid-send
	var silences []string      // acknowledged silence IDs
	midSend, pgRestarts := 0, 0
	name := func(i int) string { return fmt.Sprintf("HA%02d", i) }
	for i := range rounds {
		postAlert(replicas, name(i), time.Time{})
		if i >= 2 {
			// An alert that ends before its first notification is never
			// notified: end each once its firing notification arrived.
			testutil.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool { return sink.counts()[name(i-2)+"/firing"] > 0 },
				"%s is notified as firing", name(i-2))
			postAlert(replicas, name(i-2), time.Now())
		}
		victim := replicas[rng.IntN(len(replicas))]
		if i%3 == 0 {
			// Kill the replica that is sending (the sink holds each
			// request for a while), if one sends within 5s.
			drain(sink.arrived)
			select {
			case sender := <-sink.arrived:
				if r := byURL[sender]; r != nil {
					victim = r
				}
			case <-time.After(5 * time.Second):
			}
		} else {
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		}
		var restartPG sync.WaitGroup
		if i%5 == 4 {
			pgRestarts++
			restartPG.Go(func() { pg.Restart(t, 500*time.Millisecond) })
		}
		victimID := victim.name(t)
		inFlight := sink.sending(victim.url)
		victim.p.Kill()
		restartPG.Wait()
		// The window: a notification the victim delivered (the receiver
		// holds it, or answered) and had not confirmed when it died; its
		// claim is still the victim's.
		unconfirmed := map[string]bool{}
		for _, k := range inFlight {
			unconfirmed[k] = true
			midSend++
		}
		for _, alertname := range claimedBy(t, pg, victimID) {
			if k := sink.last(victim.url, alertname); k != "" {
				unconfirmed[k] = true
			}
		}
		for k := range unconfirmed {
			window[k]++
		}
		victim.start(t)
		// A silence through a random replica; kept if acknowledged.
		r := replicas[rng.IntN(len(replicas))]
		resp, err := http.Post(r.url+"/api/v2/silences", "application/json", strings.NewReader(fmt.Sprintf(
			`{"matchers":[{"name":"round","value":"%d","isRegex":false}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"loop","comment":"round %d"}`, i, i)))
		if err == nil {
			var made struct {
				ID string `json:"silenceID"`
			}
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&made) == nil {
				silences = append(silences, made.ID)
			}
			resp.Body.Close()
		}
	}
	for _, n := range []string{name(rounds - 2), name(rounds - 1)} {
		testutil.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool { return sink.counts()[n+"/firing"] > 0 },
			"%s is notified as firing", n)
		postAlert(replicas, n, time.Now())
	}

	// No miss: every alert's firing and resolve, and the rule's alert.
	want := []string{"HARule/firing"}
	for i := range rounds {
		want = append(want, name(i)+"/firing", name(i)+"/resolved")
	}
	testutil.Eventually(t, 90*time.Second, 250*time.Millisecond, func() bool {
		c := sink.counts()
		for _, k := range want {
			if c[k] == 0 {
				return false
			}
		}
		return true
	}, "every notification arrives; missing from %v", sink.counts())
	time.Sleep(3 * time.Second) // late duplicates, if any, arrive
	c := sink.counts()
	duplicates, inWindow := 0, 0
	for _, k := range want {
		extra := c[k] - 1
		allowed := min(extra, window[k])
		inWindow += allowed
		if extra > allowed {
			duplicates += extra - allowed
			t.Errorf("%s delivered %d times (%d allowed by a sender killed mid-send)", k, c[k], window[k])
		}
	}
	for k := range c {
		if !slices.Contains(want, k) {
			t.Errorf("unexpected notification %s (%d)", k, c[k])
		}
	}
	t.Logf("%d rounds: %d notifications, %d duplicates outside the window, %d inside it (%d kills mid-send), %d PostgreSQL restarts, %d silences acknowledged",
		rounds, len(want), duplicates, inWindow, midSend, pgRestarts, len(silences))
	require.Zero(t, duplicates)
	require.NotEmpty(t, silences)

	// Every acknowledged silence is on every replica.
	for _, r := range replicas {
		code, body, err := testutil.Get(r.url + "/api/v2/silences")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		for _, id := range silences {
			require.Contains(t, string(body), id, "silence %s on %s", id, r.url)
		}
	}
}

func drain(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestHARuleGroupsEvaluatedOnce: six rule groups on three replicas: each
// group is evaluated once per interval across the cluster (counted from
// the replicas' metrics), the groups are spread over the replicas, and
// when the replica holding most of them is killed the others take them
// over: the evaluations missed are at most two intervals' worth. The
// takeover time is measured and logged.
func TestHARuleGroupsEvaluatedOnce(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresSchema(t)
	const groups, interval = 6, 3 * time.Second
	var rules strings.Builder
	rules.WriteString("groups:\n")
	for g := range groups {
		fmt.Fprintf(&rules, "  - name: g%d\n    interval: %s\n    rules:\n      - alert: G%d\n        expr: vector(1)\n", g, interval, g)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"alerter.yml": "datasources: [{name: local, type: embedded}]\nrule_files: [rules.yml]\nroute: {receiver: none}\nreceivers: [{name: none}]\n",
		"rules.yml":   rules.String(),
	})
	var replicas []*haReplica
	for range 3 {
		replicas = append(replicas, startHAReplica(t, dir, dbURL, testutil.FreeAddr(t)))
	}
	iterations := func(r *haReplica, g int) float64 {
		v, _ := r.metric(regexp.MustCompile(`^alerter_rule_group_iterations_total\{rule_group="[^"]*;g` + strconv.Itoa(g) + `"\} (\S+)$`))
		return v
	}
	snapshot := func(rs []*haReplica) [][]float64 {
		out := make([][]float64, len(rs))
		for i, r := range rs {
			for g := range groups {
				out[i] = append(out[i], iterations(r, g))
			}
		}
		return out
	}
	// Let the leases settle (a replica joining moves its share), then count.
	time.Sleep(4 * interval)
	before, start := snapshot(replicas), time.Now()
	time.Sleep(6 * interval)
	after, elapsed := snapshot(replicas), time.Since(start)
	owners := map[int]int{} // replica → groups it evaluated
	expected := float64(elapsed / interval)
	for g := range groups {
		total, evaluators := 0.0, 0
		for i := range replicas {
			if d := after[i][g] - before[i][g]; d > 0 {
				total += d
				evaluators++
				owners[i]++
			}
		}
		require.InDelta(t, expected, total, 1, "group g%d: evaluations across the cluster in %v", g, elapsed)
		require.Equal(t, 1, evaluators, "group g%d is evaluated by one replica", g)
	}
	require.GreaterOrEqual(t, len(owners), 2, "the groups are spread over the replicas: %v", owners)

	// The status page of any replica lists every replica and its groups.
	code, page, err := testutil.Get(replicas[0].url + "/status")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	for i, r := range replicas {
		require.Contains(t, string(page), r.name(t), "replica %d on the status page", i)
	}
	require.Equal(t, groups, strings.Count(string(page), "rules.yml;g"), "each group once, under its replica")

	// Kill the replica that evaluates most groups; measure the takeover.
	victim := 0
	for i, n := range owners {
		if n > owners[victim] {
			victim = i
		}
	}
	var theirs []int
	for g := range groups {
		if after[victim][g] > before[victim][g] {
			theirs = append(theirs, g)
		}
	}
	survivors := slices.Delete(slices.Clone(replicas), victim, victim+1)
	base := snapshot(survivors)
	killed := time.Now()
	replicas[victim].p.Kill()
	taken := map[int]time.Duration{}
	testutil.Eventually(t, 10*interval, 100*time.Millisecond, func() bool {
		now := snapshot(survivors)
		for _, g := range theirs {
			if _, ok := taken[g]; ok {
				continue
			}
			for i := range survivors {
				if now[i][g] > base[i][g] {
					taken[g] = time.Since(killed)
				}
			}
		}
		return len(taken) == len(theirs)
	}, "the survivors take over the groups %v", theirs)
	var worst time.Duration
	for _, d := range taken {
		worst = max(worst, d)
	}
	t.Logf("groups per replica %v; %d groups taken over from the killed replica, the last %v after the kill (interval %v)", owners, len(theirs), worst.Round(100*time.Millisecond), interval)

	// Over a window that starts at the kill, each group misses at most two
	// intervals' worth of evaluations, and none is evaluated twice.
	time.Sleep(4 * interval)
	final, span := snapshot(survivors), time.Since(killed)
	for _, g := range theirs {
		total := 0.0
		for i := range survivors {
			total += final[i][g] - base[i][g]
		}
		require.GreaterOrEqual(t, total, float64(span/interval)-2, "group g%d after the takeover", g)
		require.LessOrEqual(t, total, float64(span/interval)+1, "group g%d is not evaluated twice", g)
	}
}

// TestHAReplicaCutOffStopsSending: replica A connects as its own role;
// that role is refused (NOLOGIN) and its connections are terminated, as a
// network partition would cut it off. A sends nothing once its claims'
// leases can have run out, and stops evaluating its rule groups; B sends
// every notification, once. When the role may log in again, A works
// again: it takes claims and sends.
func TestHAReplicaCutOffStopsSending(t *testing.T) {
	t.Parallel()
	pg := testutil.StartPrivatePostgres(t)
	pg.Exec(t, `CREATE ROLE cut LOGIN SUPERUSER`)
	cutURL := strings.Replace(pg.URL, "postgres@", "cut@", 1)
	sink := newHASink(t, 100*time.Millisecond)
	dir := t.TempDir()
	writeFiles(t, dir, haConfig(sink.URL))
	b := startHAReplica(t, dir, pg.URL, testutil.FreeAddr(t))
	a := startHAReplica(t, dir, cutURL, testutil.FreeAddr(t))
	both := []*haReplica{a, b}
	leases := regexp.MustCompile(`^alerter_cluster_group_leases_held (\S+)$`)

	// A stream of new alerts every 300ms: to A alone at first (so that
	// A, which has them first, sends them), to both from shortly before
	// the cut.
	var (
		mu     sync.Mutex
		posted []string
		cut    atomic.Bool
	)
	stop := make(chan struct{})
	var streaming sync.WaitGroup
	streaming.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			n := fmt.Sprintf("Cut%03d", i)
			to := []*haReplica{a}
			if cut.Load() {
				to = both
			}
			postAlert(to, n, time.Time{})
			mu.Lock()
			posted = append(posted, n)
			mu.Unlock()
		}
	})
	testutil.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		n := 0
		for _, d := range sink.deliveries {
			if d.Sender == a.url {
				n++
			}
		}
		return n >= 5
	}, "A sends while it reaches the database")
	// Alerts written behind by A (every second) reach B before the cut:
	// from now on they are posted to both, as a Prometheus configured
	// with both does.
	cut.Store(true)
	time.Sleep(2 * time.Second)
	aName := a.name(t)
	cutAt := time.Now()
	pg.Exec(t, `ALTER ROLE cut NOLOGIN`, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cut'`)
	// The window: a notification A claimed and may have delivered, and
	// can no longer confirm; B sends it again when the claim's lease ran
	// out.
	window := map[string]bool{}
	for _, n := range claimedBy(t, pg, aName) {
		window[n+"/firing"] = true
	}
	time.Sleep(16 * time.Second)
	held, ok := a.metric(leases)
	require.True(t, ok, "A's /metrics answers")
	require.Zero(t, held, "A holds no rule group lease once cut off")
	close(stop)
	streaming.Wait()

	// B notifies every alert, once; A nothing after its leases ran out.
	testutil.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool {
		c := sink.counts()
		mu.Lock()
		defer mu.Unlock()
		for _, n := range posted {
			if c[n+"/firing"] == 0 {
				return false
			}
		}
		return true
	}, "every alert posted is notified; delivered: %v", sink.counts())
	const claimLease = 10 * time.Second
	var lastByA time.Time
	sink.mu.Lock()
	for _, d := range sink.deliveries {
		if d.Sender == a.url && d.At.After(lastByA) {
			lastByA = d.At
		}
		require.False(t, d.Sender == a.url && d.At.After(cutAt.Add(claimLease)),
			"A sent %s %v after it was cut off", d.Key, d.At.Sub(cutAt))
	}
	sink.mu.Unlock()
	for k, n := range sink.counts() {
		if window[k] && n == 2 {
			t.Logf("%s notified twice: A claimed it before the cut and could not confirm it (the window)", k)
			continue
		}
		require.Equal(t, 1, n, "%s notified once (claimed by A at the cut: %v)", k, window[k])
	}
	t.Logf("A's last notification came %v after the cut (claims' lease %v)", lastByA.Sub(cutAt).Round(time.Millisecond), claimLease)

	// Back: A claims and sends again (alerts posted to A alone, which B
	// learns of a second later).
	pg.Exec(t, `ALTER ROLE cut LOGIN`)
	back := time.Now()
	for i := range 20 {
		postAlert([]*haReplica{a}, fmt.Sprintf("Back%02d", i), time.Time{})
		time.Sleep(200 * time.Millisecond)
	}
	testutil.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, d := range sink.deliveries {
			if d.Sender == a.url && d.At.After(back) {
				return true
			}
		}
		return false
	}, "A sends again once it can reach the database")
}
