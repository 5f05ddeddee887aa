//go:build ignore

// randomkill kills alerter with SIGKILL at random moments while it notifies
// many groups, and counts what receivers got twice and what they never got.
// Each group holds one alert, posted again after every restart as a sender
// re-sends it; halfway, half of the alerts resolve. A duplicate is a firing
// notification of a group that was already notified as firing, with no
// resolve between; a lost resolve is a resolved alert whose group's last
// notification is not a resolve.
//
//	go run bench/faults/randomkill.go -alerter ./alerter -groups 1000 -kills 15 -latency 200ms
//
// The receiver answers after a random delay up to -latency, so that many
// notifications are in flight at each kill. It records a notification when
// it has read it, before it answers: one that a kill cut off after that is
// delivered, as far as the receiver is concerned.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

type message struct {
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
}

func main() {
	bin := flag.String("alerter", "./alerter", "alerter binary")
	groups := flag.Int("groups", 1000, "groups (one alert each)")
	kills := flag.Int("kills", 15, "kill -9 rounds")
	latency := flag.Duration("latency", 200*time.Millisecond, "how long the receiver takes to answer, at most (uniform)")
	flag.Parse()

	var mu sync.Mutex
	got := map[string][]string{} // group -> statuses in arrival order
	hook := listen()
	go http.Serve(hook, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m message
		b, _ := io.ReadAll(r.Body)
		time.Sleep(time.Duration(rand.N(int64(*latency) + 1)))
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		got[m.GroupLabels["alertname"]] = append(got[m.GroupLabels["alertname"]], m.Status)
		mu.Unlock()
	}))

	dir, _ := os.MkdirTemp("", "randomkill-")
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "alerter.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
route: {receiver: hook, group_by: [alertname], group_wait: 500ms, group_interval: 2s, repeat_interval: 1h}
receivers: [{name: hook, webhook_configs: [{url: 'http://%s/', send_resolved: true}]}]
`, hook.Addr())), 0o600); err != nil {
		panic(err)
	}
	web := listen()
	addr := web.Addr().String()
	web.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(*bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=error")
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		for i := 0; i < 300; i++ {
			if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		panic("alerter did not start")
	}
	startsAt := time.Now().Add(-time.Minute)
	resolvedAt := time.Time{}
	post := func() {
		var b bytes.Buffer
		b.WriteByte('[')
		for i := range *groups {
			if i > 0 {
				b.WriteByte(',')
			}
			ends := time.Now().Add(time.Hour)
			if i < *groups/2 && !resolvedAt.IsZero() {
				ends = resolvedAt
			}
			fmt.Fprintf(&b, `{"labels":{"alertname":"G%d"},"startsAt":%q,"endsAt":%q}`, i, startsAt.Format(time.RFC3339Nano), ends.Format(time.RFC3339Nano))
		}
		b.WriteByte(']')
		resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", &b)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	cmd := start()
	post()
	for k := range *kills {
		time.Sleep(time.Duration(rand.N(3000)) * time.Millisecond)
		if k == *kills/2 {
			resolvedAt = time.Now()
			post()
			time.Sleep(time.Duration(rand.N(1500)) * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cmd = start()
		post()
	}
	time.Sleep(10 * time.Second)
	_ = cmd.Process.Kill()

	mu.Lock()
	defer mu.Unlock()
	duplicates, lost, notified := 0, 0, 0
	for i := range *groups {
		name := fmt.Sprintf("G%d", i)
		st := got[name]
		if len(st) > 0 {
			notified++
		}
		firing := false
		for _, s := range st {
			if s == "firing" && firing {
				duplicates++
			}
			firing = s == "firing"
		}
		if i < *groups/2 && (len(st) == 0 || st[len(st)-1] != "resolved") {
			lost++
		}
	}
	fmt.Printf("binary=%s groups=%d kills=%d groups_notified=%d duplicate_firing_notifications=%d resolves_lost=%d (of %d resolved)\n",
		*bin, *groups, *kills, notified, duplicates, lost, *groups/2)
}

func listen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return l
}
