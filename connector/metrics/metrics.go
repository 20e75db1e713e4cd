// Package metrics counts what the connector does, exposes it as Prometheus
// metrics, and answers the health (/healthz) and readiness (/readyz)
// checks.
package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/duo-connector/duo-connector/connector/duo"
)

// Metrics implements the Duo client's and the pipelines' observers and
// keeps what the runner reports of its polls. It is safe for concurrent
// use.
//
// Per-account series (lag, cursor time, last successful poll, polls by
// result) carry an account label: one series per account and log, so a
// thousand accounts make some four thousand of each. The counters of
// records and requests are by log and endpoint only.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	recordsRead      *prometheus.CounterVec
	recordsPublished *prometheus.CounterVec
	recordsMalformed *prometheus.CounterVec
	recordsOversized *prometheus.CounterVec
	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	rateLimited      *prometheus.CounterVec
	retries          *prometheus.CounterVec
	writeLatency     *prometheus.HistogramVec
	kafkaRetries     prometheus.Counter
	polls            *prometheus.CounterVec
	skew             prometheus.Gauge

	mu    sync.Mutex
	units map[Unit]*LogState
	reqs  struct{ total, retries, rateLimited, kafkaRetries int }
	// cluster is set in cluster mode: the generation and the state
	// partitions this process owns in it.
	cluster *clusterState
}

type clusterState struct {
	generation int
	partitions []int
}

// Unit is one log of one account.
type Unit struct {
	Account string
	Log     duo.LogType
}

// LogState is what is known of one log of one account.
type LogState struct {
	Records, Malformed int
	// CursorTime is how far the log has been delivered (for v1 logs, the
	// newest record's second).
	CursorTime time.Time
	// Checked is how far Duo has been checked: every record up to it was
	// delivered. On a quiet log it keeps up with the clock.
	Checked time.Time
	// LastSuccess is when a poll last finished without error.
	LastSuccess time.Time
	// LastError is the last poll's error, if it failed.
	LastError string
	// Unready, when set, makes the log unready at once, before its last
	// success grows old: its pages are published but not checkpointed.
	Unready string
	// Stalled, when set, says why the log makes no progress although
	// Duo answers: its account is unready until it moves again.
	Stalled string
	// Retrying, when set, is the failure the poll in progress is being
	// retried after (a 429, a 5xx, the network): the reason an unready
	// log gives before its first poll finishes.
	Retrying string
	// Unavailable, when set, is why the account does not have the log
	// (Duo refuses it: edition, preview): skipped, not a failure.
	Unavailable string
}

// New returns empty Metrics; the runner tracks each account's logs.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		reg: reg,
		now: time.Now,
		recordsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_read_total", Help: "Records read from the Duo Admin API.",
		}, []string{"log"}),
		recordsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_published_total", Help: "Records published to Kafka and acknowledged.",
		}, []string{"log"}),
		recordsMalformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_failed_normalize_total", Help: "Records that were not JSON objects, published with error.message.",
		}, []string{"log"}),
		recordsOversized: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_oversized_total", Help: "Records whose document was larger than Kafka takes (kafka.batch_bytes), published in its place cut to fit, with error.message.",
		}, []string{"log"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_api_requests_total", Help: "Duo Admin API requests by endpoint and HTTP status (0: no response).",
		}, []string{"endpoint", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "duo_connector_api_request_duration_seconds", Help: "Duo Admin API request duration.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"endpoint"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_api_rate_limited_total", Help: "Duo Admin API answers 429 Too Many Requests.",
		}, []string{"endpoint"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_api_retries_total", Help: "Duo Admin API requests retried after a failure.",
		}, []string{"endpoint"}),
		writeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "duo_connector_kafka_write_duration_seconds", Help: "Time from publishing a page to its acknowledgement by Kafka, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2.5, 12),
		}, []string{"log"}),
		kafkaRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duo_connector_kafka_write_retries_total", Help: "Kafka writes that failed and were tried again.",
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_polls_total", Help: "Polls by account, log and result (ok, error).",
		}, []string{"account", "log", "result"}),
		skew: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duo_connector_clock_skew_seconds", Help: "Local clock minus Duo's, from the last response's Date header.",
		}),
		units: map[Unit]*LogState{},
	}
	reg.MustRegister(m.skew, m.recordsRead, m.recordsPublished, m.recordsMalformed, m.recordsOversized, m.requests, m.requestDuration,
		m.rateLimited, m.retries, m.writeLatency, m.kafkaRetries, m.polls, unitCollector{m})
	return m
}

var (
	lagDesc = prometheus.NewDesc("duo_connector_cursor_lag_seconds",
		"Now minus how far Duo has been checked (every record up to it delivered); small and steady on a quiet healthy log.", []string{"account", "log"}, nil)
	cursorDesc = prometheus.NewDesc("duo_connector_cursor_timestamp_seconds",
		"Unix time of the cursor: for admin, offline and telephony v1, the newest delivered record's second.", []string{"account", "log"}, nil)
	lastSuccessDesc = prometheus.NewDesc("duo_connector_last_successful_poll_timestamp_seconds",
		"Unix time of the last poll that finished without error.", []string{"account", "log"}, nil)
	accountsDesc = prometheus.NewDesc("duo_connector_accounts",
		"Duo accounts read, by state: ok (every log's last poll succeeded) or failing.", []string{"state"}, nil)
	generationDesc = prometheus.NewDesc("duo_connector_cluster_generation",
		"Cluster mode: the connector group's generation this process works in.", nil, nil)
	partitionsDesc = prometheus.NewDesc("duo_connector_cluster_partitions_owned",
		"Cluster mode: the state topic partitions this process owns.", nil, nil)
	stalledDesc = prometheus.NewDesc("duo_connector_unit_stalled",
		"1 while a log gets answers from Duo but neither its cursor moves nor Duo confirms it caught up (see stall_turns).", []string{"account", "log"}, nil)
	notSavedDesc = prometheus.NewDesc("duo_connector_cursor_not_saved",
		"1 while the log's cursor cannot be saved: its pages reach Kafka but are read again at every poll (duplicates) until the state directory or topic takes writes again.", []string{"account", "log"}, nil)
	unavailableDesc = prometheus.NewDesc("duo_connector_log_unavailable",
		"1 while Duo refuses a log to the account (an edition or preview it lacks: the activity log, Trust Monitor); skipped and asked for again hourly, not a failure.", []string{"account", "log"}, nil)
	unitsDesc = prometheus.NewDesc("duo_connector_cluster_units_owned",
		"Cluster mode: the (account, log) units this process polls.", nil, nil)
)

// unitCollector reports the per-unit gauges from the units' states, so
// that accounts found or removed while running need no registration.
type unitCollector struct{ m *Metrics }

func (c unitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- cursorDesc
	ch <- lastSuccessDesc
	ch <- stalledDesc
	ch <- unavailableDesc
	ch <- notSavedDesc
	ch <- accountsDesc
	ch <- generationDesc
	ch <- partitionsDesc
	ch <- unitsDesc
}

func (c unitCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	failing := map[string]bool{}
	for u, st := range m.units {
		through := st.Checked
		if st.CursorTime.After(through) {
			through = st.CursorTime
		}
		lag, cursor, last := 0.0, 0.0, 0.0
		if !through.IsZero() {
			lag = now.Sub(through).Seconds()
		}
		if !st.CursorTime.IsZero() {
			cursor = float64(st.CursorTime.Unix())
		}
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag, u.Account, string(u.Log))
		ch <- prometheus.MustNewConstMetric(cursorDesc, prometheus.GaugeValue, cursor, u.Account, string(u.Log))
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, last, u.Account, string(u.Log))
		stalled := 0.0
		if st.Stalled != "" {
			stalled = 1
		}
		ch <- prometheus.MustNewConstMetric(stalledDesc, prometheus.GaugeValue, stalled, u.Account, string(u.Log))
		unavailable := 0.0
		if st.Unavailable != "" {
			unavailable = 1
		}
		ch <- prometheus.MustNewConstMetric(unavailableDesc, prometheus.GaugeValue, unavailable, u.Account, string(u.Log))
		notSaved := 0.0
		if st.Unready != "" {
			notSaved = 1
		}
		ch <- prometheus.MustNewConstMetric(notSavedDesc, prometheus.GaugeValue, notSaved, u.Account, string(u.Log))
		failing[u.Account] = failing[u.Account] || st.LastError != "" || st.Unready != "" || st.Stalled != ""
	}
	ok, bad := 0, 0
	for _, f := range failing {
		if f {
			bad++
		} else {
			ok++
		}
	}
	ch <- prometheus.MustNewConstMetric(accountsDesc, prometheus.GaugeValue, float64(ok), "ok")
	ch <- prometheus.MustNewConstMetric(accountsDesc, prometheus.GaugeValue, float64(bad), "failing")
	if c := m.cluster; c != nil {
		ch <- prometheus.MustNewConstMetric(generationDesc, prometheus.GaugeValue, float64(c.generation))
		ch <- prometheus.MustNewConstMetric(partitionsDesc, prometheus.GaugeValue, float64(len(c.partitions)))
		ch <- prometheus.MustNewConstMetric(unitsDesc, prometheus.GaugeValue, float64(len(m.units)))
	}
}

// ClusterGeneration records, in cluster mode, the connector group's
// generation and the state partitions this process owns in it.
func (m *Metrics) ClusterGeneration(generation int, partitions []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cluster = &clusterState{generation: generation, partitions: partitions}
}

// Track starts reporting one log of an account (before its first poll),
// read from the Duo endpoint path.
func (m *Metrics) Track(account string, lt duo.LogType, path string) {
	m.mu.Lock()
	m.state(account, lt)
	m.mu.Unlock()
	// Every series an alert or a dashboard selects exists from the first
	// scrape, at zero: a query never silently matches nothing.
	for _, c := range []*prometheus.CounterVec{m.recordsRead, m.recordsPublished, m.recordsMalformed, m.recordsOversized} {
		c.WithLabelValues(string(lt))
	}
	m.writeLatency.WithLabelValues(string(lt))
	for _, result := range []string{"ok", "error", "unavailable"} {
		m.polls.WithLabelValues(account, string(lt), result)
	}
	if path != "" {
		m.requests.WithLabelValues(path, "200")
		m.requestDuration.WithLabelValues(path)
		m.rateLimited.WithLabelValues(path)
		m.retries.WithLabelValues(path)
	}
}

// Untrack stops reporting one log of an account (no longer polled here).
func (m *Metrics) Untrack(account string, lt duo.LogType) {
	m.mu.Lock()
	delete(m.units, Unit{account, lt})
	m.mu.Unlock()
	m.polls.DeletePartialMatch(prometheus.Labels{"account": account, "log": string(lt)})
}

// Forget stops reporting an account (no longer read).
func (m *Metrics) Forget(account string) {
	m.mu.Lock()
	for u := range m.units {
		if u.Account == account {
			delete(m.units, u)
		}
	}
	m.mu.Unlock()
	m.polls.DeletePartialMatch(prometheus.Labels{"account": account})
}

// Request implements duo.Observer.
func (m *Metrics) Request(path string, status int, d time.Duration) {
	m.requests.WithLabelValues(path, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(path).Observe(d.Seconds())
	m.mu.Lock()
	m.reqs.total++
	if status == http.StatusTooManyRequests {
		m.reqs.rateLimited++
	}
	m.mu.Unlock()
	if status == http.StatusTooManyRequests {
		m.rateLimited.WithLabelValues(path).Inc()
	}
}

// Retry implements duo.Observer.
func (m *Metrics) Retry(path string, _ error) {
	m.retries.WithLabelValues(path).Inc()
	m.mu.Lock()
	m.reqs.retries++
	m.mu.Unlock()
}

// Skew implements duo.Observer.
func (m *Metrics) Skew(d time.Duration) { m.skew.Set(d.Seconds()) }

// PagePublished implements pipeline.Observer.
func (m *Metrics) PagePublished(account string, lt duo.LogType, records, malformed, oversized int, publish time.Duration, cursorTime time.Time) {
	l := string(lt)
	m.recordsRead.WithLabelValues(l).Add(float64(records))
	m.recordsPublished.WithLabelValues(l).Add(float64(records))
	m.recordsMalformed.WithLabelValues(l).Add(float64(malformed))
	m.recordsOversized.WithLabelValues(l).Add(float64(oversized))
	m.writeLatency.WithLabelValues(l).Observe(publish.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(account, lt)
	st.Records += records
	st.Malformed += malformed
	st.CursorTime = cursorTime
}

// CursorAt records where a log stands: its cursor, and how far Duo has
// been checked (at start and after every poll).
func (m *Metrics) CursorAt(account string, lt duo.LogType, cursor, checked time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(account, lt)
	st.CursorTime, st.Checked = cursor, checked
}

// PollFinished records the outcome of a poll (the runner calls it).
func (m *Metrics) PollFinished(account string, lt duo.LogType, err error) {
	result := "ok"
	m.mu.Lock()
	st := m.state(account, lt)
	st.Retrying = ""
	if err != nil {
		result = "error"
		st.LastError = err.Error()
	} else {
		st.LastSuccess = m.now()
		st.LastError, st.Unready, st.Unavailable = "", "", ""
	}
	m.mu.Unlock()
	m.polls.WithLabelValues(account, string(lt), result).Inc()
}

// Unavailable records that the account does not have the log (reason:
// Duo's refusal), or that it has it now (""): an unavailable log is not
// counted as failing, and readiness says why.
func (m *Metrics) Unavailable(account string, lt duo.LogType, reason string) {
	m.mu.Lock()
	st := m.state(account, lt)
	st.Unavailable = reason
	if reason != "" {
		st.LastError, st.Retrying = "", ""
	}
	m.mu.Unlock()
	if reason != "" {
		m.polls.WithLabelValues(account, string(lt), "unavailable").Inc()
	}
}

// Retrying records the failure a log's poll in progress is retried after
// ("" once it is answered again).
func (m *Metrics) Retrying(account string, lt duo.LogType, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(account, lt)
	st.Retrying = ""
	if err != nil {
		st.Retrying = err.Error()
	}
}

// Stalled records that a log makes no progress although Duo answers
// (reason), or that it moves again (""): its account is unready meanwhile.
func (m *Metrics) Stalled(account string, lt duo.LogType, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state(account, lt).Stalled = reason
}

// CursorNotSaved makes a log unready until a poll succeeds: Kafka has its
// pages, but its cursor cannot be saved, so they repeat every poll.
func (m *Metrics) CursorNotSaved(account string, lt duo.LogType, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state(account, lt).Unready = err.Error()
}

func (m *Metrics) state(account string, lt duo.LogType) *LogState {
	u := Unit{account, lt}
	st := m.units[u]
	if st == nil {
		st = &LogState{}
		m.units[u] = st
	}
	return st
}

// State returns a copy of one log's state.
func (m *Metrics) State(account string, lt duo.LogType) LogState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.state(account, lt)
}

// Log returns one log's state over every account: records summed, and
// the cursor, check, and last success of the account furthest behind
// (zero if one has none), and an error of one failing.
func (m *Metrics) Log(lt duo.LogType) LogState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out LogState
	first := true
	earliest := func(a, b time.Time) time.Time {
		if a.IsZero() || b.IsZero() {
			return time.Time{}
		}
		if b.Before(a) {
			return b
		}
		return a
	}
	for u, st := range m.units {
		if u.Log != lt {
			continue
		}
		out.Records += st.Records
		out.Malformed += st.Malformed
		if first {
			out.CursorTime, out.Checked, out.LastSuccess = st.CursorTime, st.Checked, st.LastSuccess
			first = false
		} else {
			out.CursorTime = earliest(out.CursorTime, st.CursorTime)
			out.Checked = earliest(out.Checked, st.Checked)
			out.LastSuccess = earliest(out.LastSuccess, st.LastSuccess)
		}
		if out.LastError == "" && st.LastError != "" {
			out.LastError = u.Account + ": " + st.LastError
		}
		if out.Unavailable == "" && st.Unavailable != "" {
			out.Unavailable = u.Account + ": " + st.Unavailable
		}
	}
	return out
}

// KafkaRetry counts a failed Kafka write to be tried again (the
// publisher's OnRetry).
func (m *Metrics) KafkaRetry() {
	m.kafkaRetries.Inc()
	m.mu.Lock()
	m.reqs.kafkaRetries++
	m.mu.Unlock()
}

// KafkaRetries returns the Kafka writes retried so far.
func (m *Metrics) KafkaRetries() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs.kafkaRetries
}

// Summary is a run's final counts, as log attributes: the records of
// each log, their total, Duo's requests, retries and 429s, Kafka's
// retries.
func (m *Metrics) Summary(logs []duo.LogType) []any {
	total := 0
	var attrs []any
	for _, lt := range logs {
		st := m.Log(lt)
		total += st.Records
		attrs = append(attrs, string(lt), st.Records)
	}
	requests, retries, limited := m.Requests()
	return append(attrs, "total", total, "duo_requests", requests, "retries", retries, "rate_limited", limited, "kafka_retries", m.KafkaRetries())
}

// Requests returns the Duo requests, retries and 429s so far.
func (m *Metrics) Requests() (total, retries, rateLimited int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs.total, m.reqs.retries, m.reqs.rateLimited
}

// Health configures the readiness check.
type Health struct {
	// Interval is the poll interval; a log is ready while its last
	// successful poll is within Intervals × Interval.
	Interval  time.Duration
	Intervals int
	// Kafka checks the brokers are reachable.
	Kafka func(context.Context) error
}

// logReport is one log's readiness.
type logReport struct {
	Ready       bool      `json:"ready"`
	LastSuccess time.Time `json:"last_successful_poll,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Unavailable: the account does not have the log (not a failure).
	Unavailable string `json:"unavailable,omitempty"`
}

// accountReport is one account's readiness.
type accountReport struct {
	Ready bool                 `json:"ready"`
	Logs  map[string]logReport `json:"logs"`
}

// readinessReport is /readyz's answer. With one account its logs are at
// the top (as before there were several); with several, the counts of
// accounts ready and failing, and the failing ones with their logs (a
// thousand healthy accounts are not listed one by one).
type readinessReport struct {
	Ready bool   `json:"ready"`
	Kafka string `json:"kafka"`
	// Generation and Partitions are cluster mode's.
	Generation    *int                     `json:"generation,omitempty"`
	Partitions    []int                    `json:"partitions_owned,omitempty"`
	Logs          map[string]logReport     `json:"logs,omitempty"`
	AccountsReady *int                     `json:"accounts_ready,omitempty"`
	Failing       map[string]accountReport `json:"failing_accounts,omitempty"`
}

// readiness decides readiness. One account is ready when every log of it
// polled successfully within window. With several, one customer's revoked
// application must not take the whole connector out of service: it is
// ready while some account is, and no log is unready for a reason of the
// connector's own (cursors not saved); the failing accounts are listed.
func (m *Metrics) readiness(window time.Duration) readinessReport {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	accts := map[string]accountReport{}
	local := false
	for u, st := range m.units {
		ok := !st.LastSuccess.IsZero() && now.Sub(st.LastSuccess) <= window && st.Unready == "" && st.Stalled == "" ||
			st.Unavailable != ""
		local = local || st.Unready != ""
		a, seen := accts[u.Account]
		if !seen {
			a = accountReport{Ready: true, Logs: map[string]logReport{}}
		}
		lastErr := st.LastError
		switch {
		case lastErr != "":
		case st.Stalled != "":
			lastErr = st.Stalled
		case st.Retrying != "":
			lastErr = "retrying: " + st.Retrying
		case st.LastSuccess.IsZero():
			lastErr = "its first poll has not finished yet"
		}
		if st.Unavailable != "" {
			lastErr = ""
		}
		a.Logs[string(u.Log)] = logReport{Ready: ok, LastSuccess: st.LastSuccess, LastError: lastErr, Unavailable: st.Unavailable}
		a.Ready = a.Ready && ok
		accts[u.Account] = a
	}
	report := readinessReport{Ready: true, Kafka: "ok"}
	if c := m.cluster; c != nil {
		gen := c.generation
		report.Generation, report.Partitions = &gen, c.partitions
	}
	switch len(accts) {
	case 0:
		// A cluster's process with nothing to poll (more processes than
		// units, or between generations) is in service: ready.
		report.Ready = m.cluster != nil
	case 1:
		for _, a := range accts {
			report.Logs, report.Ready = a.Logs, a.Ready
		}
	default:
		ready := 0
		for name, a := range accts {
			if a.Ready {
				ready++
				continue
			}
			if report.Failing == nil {
				report.Failing = map[string]accountReport{}
			}
			report.Failing[name] = a
		}
		report.AccountsReady = &ready
		report.Ready = ready > 0 && !local
	}
	return report
}

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler(h Health) http.Handler {
	if h.Intervals <= 0 {
		h.Intervals = 3
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	var kafkaMu sync.Mutex
	var kafkaChecked time.Time
	var kafkaErr error
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		report := m.readiness(time.Duration(h.Intervals) * h.Interval)
		if h.Kafka != nil {
			kafkaMu.Lock()
			if time.Since(kafkaChecked) > 10*time.Second {
				ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
				kafkaErr = h.Kafka(ctx)
				cancel()
				kafkaChecked = time.Now()
			}
			if kafkaErr != nil {
				report.Kafka = kafkaErr.Error()
				report.Ready = false
			}
			kafkaMu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		if !report.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(report)
	})
	return mux
}
