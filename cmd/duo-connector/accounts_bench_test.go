package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// BenchmarkManyAccounts runs the connector binary as a daemon reading an
// MSP's children (each with 100 records of each of the four default
// logs) from the fake's Accounts API into kfake, and reports its peak RSS,
// its peak goroutines, records/s and the seconds until every record was
// published; then it waits one schedule interval (15 s) and checks that
// every account was polled within it (the benchmark fails otherwise).
// BENCH_GOMEMLIMIT sets the connector's GOMEMLIMIT (e.g. off).
func BenchmarkManyAccounts(b *testing.B) {
	bin := benchBinary(b)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			const perLog = 100
			srv := duotest.New(b, duotest.WithoutRequestLog())
			gen := duotest.NewGenerator(7)
			now := time.Now()
			for i := range n {
				id := fmt.Sprintf("DA%06d", i)
				srv.AddChild(id, fmt.Sprintf("Customer %d", i))
				for _, lt := range duo.DefaultLogTypes {
					srv.AddForAccount(id, gen.Fill(lt, now.Add(-20*time.Hour), now.Add(-10*time.Minute), perLog)...)
				}
			}
			total := n * perLog * len(duo.DefaultLogTypes)
			var peakKiB, goroutines int64
			var caughtUp time.Duration
			for b.Loop() {
				broker, err := kafkatest.Start(4, topics, "")
				if err != nil {
					b.Fatal(err)
				}
				addr := freeAddr(b)
				cfg := mspConfig(b, srv, broker.Addr, 1000, `
  child_accounts: {enabled: true}
schedule: "@every 15s"
jitter: 1s
concurrent_polls: 32
http: {listen: "`+addr+`"}
log: {level: warn}
`)
				cmd := exec.Command(bin, "run", "--config", cfg)
				cmd.Stderr = os.Stderr
				if limit := os.Getenv("BENCH_GOMEMLIMIT"); limit != "" {
					cmd.Env = append(os.Environ(), "GOMEMLIMIT="+limit)
				}
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				hwm := make(chan int64)
				go func() { hwm <- watchPeakRSS(cmd.Process.Pid, done) }()
				caught := time.Time{}
				for caught.IsZero() || time.Since(caught) < 17*time.Second {
					time.Sleep(250 * time.Millisecond)
					m := scrape(addr)
					goroutines = max(goroutines, int64(m["go_goroutines"]))
					if caught.IsZero() && m["published"] >= float64(total) {
						caught = time.Now()
						caughtUp = caught.Sub(start)
					}
					if time.Since(start) > 10*time.Minute {
						b.Fatalf("not caught up after 10 minutes: %v of %d published", m["published"], total)
					}
				}
				// Every account polled within the last interval (15 s plus jitter).
				stale := staleAccounts(addr, time.Now().Add(-17*time.Second))
				cmd.Process.Signal(os.Interrupt)
				cmd.Wait()
				close(done)
				peakKiB = max(peakKiB, <-hwm)
				broker.Stop()
				if stale > 0 {
					b.Fatalf("%d (account, log) units not polled within the 15 s schedule once caught up", stale)
				}
			}
			b.ReportMetric(float64(peakKiB)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(goroutines), "goroutines-peak")
			b.ReportMetric(caughtUp.Seconds(), "seconds-to-caught-up")
			b.ReportMetric(float64(total)/caughtUp.Seconds(), "records/s")
		})
	}
}

// scrape reads go_goroutines and the records published (summed) from the
// connector's /metrics.
func scrape(addr string) map[string]float64 {
	out := map[string]float64{}
	forEachMetric(addr, func(name, labels string, v float64) {
		switch name {
		case "go_goroutines":
			out[name] = v
		case "duo_connector_records_published_total":
			out["published"] += v
		}
	})
	return out
}

// staleAccounts counts the units whose last successful poll is before t.
func staleAccounts(addr string, t time.Time) int {
	stale := 0
	forEachMetric(addr, func(name, labels string, v float64) {
		if name == "duo_connector_last_successful_poll_timestamp_seconds" && v < float64(t.UnixNano())/1e9 {
			stale++
		}
	})
	return stale
}

func forEachMetric(addr string, fn func(name, labels string, v float64)) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:sp], ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		fn(name, labels, v)
	}
}
