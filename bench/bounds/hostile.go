//go:build ignore

// hostile measures what alerter's memory does under hostile input: a query
// API that answers 300 MiB to every query, and 16 clients posting 8 MiB of
// new alerts each at once. It runs the binary given, samples its RSS every
// 100 ms, and prints one line of results.
//
//	go run bench/bounds/hostile.go -alerter ./alerter -seconds 60
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	bin := flag.String("alerter", "./alerter", "alerter binary")
	seconds := flag.Int("seconds", 60, "how long the hostile datasource is queried")
	answer := flag.Int("answer-mib", 300, "size of each answer of the datasource, MiB")
	phase := flag.String("phase", "queries", "queries: the hostile datasource; flood: the alert posts")
	flag.Parse()

	// The datasource: every query gets an endless-looking valid vector.
	head := `{"status":"success","data":{"resultType":"vector","result":[`
	chunk := []byte(strings.Repeat(`{"metric":{"__name__":"up","job":"`+strings.Repeat("x", 200)+`"},"value":[1700000000.123,"1"]},`, 4096))
	size := *answer << 20
	ds := listen()
	go http.Serve(ds, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n, _ := io.WriteString(w, head)
		for n < size {
			m, err := w.Write(chunk[:min(len(chunk), size-n)])
			if err != nil {
				return
			}
			n += m
		}
	}))

	dir, _ := os.MkdirTemp("", "hostile-")
	defer os.RemoveAll(dir)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: hostile\n    rules:\n")
	for i := range 8 {
		fmt.Fprintf(&rules, "      - alert: A%d\n        expr: up%d\n", i, i)
	}
	write(filepath.Join(dir, "rules.yml"), rules.String())
	write(filepath.Join(dir, "alerter.yml"), fmt.Sprintf(`
global: {evaluation_interval: 5s}
datasources: [{name: hostile, type: prometheus, url: 'http://%s', timeout: 30s}]
rule_files: [rules.yml]
route: {receiver: none}
receivers: [{name: none}]
`, ds.Addr()))
	web := listen()
	addr := web.Addr().String()
	web.Close()
	cmd := exec.Command(*bin, "--config.file="+filepath.Join(dir, "alerter.yml"), "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer cmd.Process.Kill()
	peak := sampleRSS(cmd.Process.Pid)

	if *phase == "queries" {
		time.Sleep(time.Duration(*seconds) * time.Second)
		fmt.Printf("binary=%s phase=queries answer_mib=%d seconds=%d concurrent_queries=8 peak_rss_mib=%d\n", *bin, *answer, *seconds, peak()>>20)
		return
	}
	// No rule of the configuration queries anything that answers: only
	// the posts count.
	ds.Close()
	time.Sleep(2 * time.Second)
	before := peak()

	// 16 clients post 8 MiB of new alerts each, at once.
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for c := range 16 {
		wg.Go(func() {
			var b bytes.Buffer
			b.WriteByte('[')
			for i := 0; b.Len() < 8<<20-100; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"labels":{"alertname":"Flood","c":"%d","i":"%d"}}`, c, i)
			}
			b.WriteByte(']')
			resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", &b)
			if err == nil {
				codes[c] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	fmt.Printf("binary=%s phase=flood clients=16 body_mib=8 rss_mib_before=%d peak_rss_mib=%d alerts_stored=%d post_statuses=%v\n",
		*bin, before>>20, peak()>>20, countAlerts(addr), codes)
}

func listen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return l
}

func write(path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		panic(err)
	}
}

// sampleRSS samples the process's resident memory every 100 ms and returns
// a function that reports the peak so far, in bytes.
func sampleRSS(pid int) func() int {
	var mu sync.Mutex
	peak := 0
	go func() {
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.Atoi(f[1])
					mu.Lock()
					peak = max(peak, kb<<10)
					mu.Unlock()
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return peak }
}

func countAlerts(addr string) int {
	resp, err := http.Get("http://" + addr + "/api/v2/alerts?filter=alertname%3D%22Flood%22")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Count(string(b), `"fingerprint"`)
}
