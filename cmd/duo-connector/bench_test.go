package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/pipeline"
)

var (
	plainBinaryOnce sync.Once
	plainBinary     string
	plainBinaryErr  error
)

// benchBinary builds the connector without the race detector, as shipped;
// BENCH_BINARY names another build instead (to set two builds side by side).
func benchBinary(b *testing.B) string {
	if bin := os.Getenv("BENCH_BINARY"); bin != "" {
		return bin
	}
	plainBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "duo-connector-bench-")
		if err != nil {
			plainBinaryErr = err
			return
		}
		plainBinary = filepath.Join(dir, "duo-connector")
		out, err := exec.Command("go", "build", "-o", plainBinary, ".").CombinedOutput()
		if err != nil {
			plainBinaryErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if plainBinaryErr != nil {
		b.Fatal(plainBinaryErr)
	}
	return plainBinary
}

// watchPeakRSS samples a process's VmHWM (its peak resident set, which
// exec resets) until done, and returns the last value in KiB. rusage's
// maxrss is no use here: it counts the parent's memory the child shares
// between fork and exec.
func watchPeakRSS(pid int, done <-chan struct{}) int64 {
	var peak int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	for {
		if data, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kib int64
					fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kib)
					peak = max(peak, kib)
				}
			}
		}
		select {
		case <-done:
			return peak
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// BenchmarkBackfill runs the connector binary as its own process over a
// backlog held by the fake Duo (no request budget) into kfake (lz4), end
// to end: reading, normalizing, publishing with acks=all, saving cursors.
// It reports records/s, the connector process's CPU time (user + system)
// per record and its peak RSS, for two backlog sizes to show memory does
// not grow with the records. BENCH_GOMEMLIMIT sets the connector's
// GOMEMLIMIT (e.g. off).
func BenchmarkBackfill(b *testing.B) {
	bin := benchBinary(b)
	for _, n := range []int{250_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			counts := map[duo.LogType]int{duo.Auth: n * 6 / 10, duo.Admin: n / 10, duo.Offline: n / 10, duo.Telephony: n / 5}
			w := newWorld(b, "", counts)
			w.rps = 1e6
			var peakKiB int64
			var elapsed, cpu time.Duration
			for b.Loop() {
				w.stateDir = b.TempDir() // a fresh backfill each round
				cfg := w.config(b, "log: {level: warn}")
				start := time.Now()
				cmd := exec.Command(bin, "backfill", "--config", cfg, "--since", "21h")
				cmd.Stderr = os.Stderr
				if limit := os.Getenv("BENCH_GOMEMLIMIT"); limit != "" {
					cmd.Env = append(os.Environ(), "GOMEMLIMIT="+limit) // the connector's, not this process's
				}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				hwm := make(chan int64)
				go func() { hwm <- watchPeakRSS(cmd.Process.Pid, done) }()
				err := cmd.Wait()
				close(done)
				peakKiB = max(peakKiB, <-hwm)
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			records := float64(n) * float64(b.N)
			b.ReportMetric(records/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Microseconds())/records, "connector-cpu-us/record")
			b.ReportMetric(float64(peakKiB)/1024, "peak-RSS-MiB")
		})
	}
}

// BenchmarkNormalizeCLI times the normalize command on 100k auth records
// (NDJSON, marked as the connector marks them) against the least a program
// can do with the same input: check each line with json.Valid and copy it
// out. The two alternate, and the ratio of their medians is reported (the
// target is at most 0.8).
func BenchmarkNormalizeCLI(b *testing.B) {
	gen := duotest.NewGenerator(21)
	now := time.Now()
	var in bytes.Buffer
	for i := range 100_000 {
		rec := gen.Record(duo.Auth, now.Add(-time.Duration(i)*time.Second))
		in.Write(pipeline.Mark(nil, rec.Raw, "auth_log", "api-x.duosecurity.com"))
		in.WriteByte('\n')
	}
	file := filepath.Join(b.TempDir(), "auth.ndjson")
	if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	validCopy := func() {
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		w := bufio.NewWriterSize(io.Discard, 64<<10)
		for sc.Scan() {
			if line := sc.Bytes(); len(line) > 0 && json.Valid(line) {
				w.Write(line)
				w.WriteByte('\n')
			}
		}
		w.Flush()
	}
	var cli, valid []time.Duration
	for b.Loop() {
		start := time.Now()
		if code := run([]string{"normalize", file}, nil, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("normalize exited %d", code)
		}
		cli = append(cli, time.Since(start))
		start = time.Now()
		validCopy()
		valid = append(valid, time.Since(start))
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	b.ReportMetric(float64(median(cli))/float64(median(valid)), "cli/valid-copy")
	b.ReportMetric(float64(in.Len())/median(cli).Seconds()/1e6, "cli-MB/s")
}
