// Package metrics counts what the connector does, exposes it as Prometheus
// metrics, and answers the health (/healthz) and readiness (/readyz)
// checks.
package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
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
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	recordsRead      *prometheus.CounterVec
	recordsPublished *prometheus.CounterVec
	recordsMalformed *prometheus.CounterVec
	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	rateLimited      *prometheus.CounterVec
	retries          *prometheus.CounterVec
	writeLatency     *prometheus.HistogramVec
	polls            *prometheus.CounterVec
	skew             prometheus.Gauge

	mu   sync.Mutex
	logs map[duo.LogType]*LogState
	reqs struct{ total, retries, rateLimited int }
}

// LogState is what is known of one log.
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
}

// New returns Metrics for the given logs, with the host label fixed.
func New(host string, logs []duo.LogType) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	constLabels := prometheus.Labels{"duo_host": host}
	m := &Metrics{
		reg: reg,
		now: time.Now,
		recordsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_read_total", Help: "Records read from the Duo Admin API.", ConstLabels: constLabels,
		}, []string{"log"}),
		recordsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_published_total", Help: "Records published to Kafka and acknowledged.", ConstLabels: constLabels,
		}, []string{"log"}),
		recordsMalformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_records_failed_normalize_total", Help: "Records that were not JSON objects, published with error.message.", ConstLabels: constLabels,
		}, []string{"log"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_api_requests_total", Help: "Duo Admin API requests by endpoint and HTTP status (0: no response).", ConstLabels: constLabels,
		}, []string{"endpoint", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "duo_connector_api_request_duration_seconds", Help: "Duo Admin API request duration.", ConstLabels: constLabels,
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"endpoint"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_api_rate_limited_total", Help: "Duo Admin API answers 429 Too Many Requests.", ConstLabels: constLabels,
		}, []string{"endpoint"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_api_retries_total", Help: "Duo Admin API requests retried after a failure.", ConstLabels: constLabels,
		}, []string{"endpoint"}),
		writeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "duo_connector_kafka_write_duration_seconds", Help: "Time from publishing a page to its acknowledgement by Kafka, retries included.", ConstLabels: constLabels,
			Buckets: prometheus.ExponentialBuckets(0.002, 2.5, 12),
		}, []string{"log"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duo_connector_polls_total", Help: "Polls by log and result (ok, error).", ConstLabels: constLabels,
		}, []string{"log", "result"}),
		skew: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duo_connector_clock_skew_seconds", Help: "Local clock minus Duo's, from the last response's Date header.", ConstLabels: constLabels,
		}),
		logs: map[duo.LogType]*LogState{},
	}
	reg.MustRegister(m.skew, m.recordsRead, m.recordsPublished, m.recordsMalformed, m.requests, m.requestDuration,
		m.rateLimited, m.retries, m.writeLatency, m.polls)
	for _, lt := range logs {
		m.logs[lt] = &LogState{}
		for _, c := range []*prometheus.CounterVec{m.recordsRead, m.recordsPublished, m.recordsMalformed} {
			c.WithLabelValues(string(lt))
		}
		lt := lt
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "duo_connector_cursor_lag_seconds", Help: "Now minus how far Duo has been checked (every record up to it delivered); small and steady on a quiet healthy log.", ConstLabels: prometheus.Labels{"duo_host": host, "log": string(lt)},
		}, func() float64 {
			st := m.State(lt)
			through := st.Checked
			if st.CursorTime.After(through) {
				through = st.CursorTime
			}
			if through.IsZero() {
				return 0
			}
			return m.now().Sub(through).Seconds()
		}))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "duo_connector_cursor_timestamp_seconds", Help: "Unix time of the cursor: for admin, offline and telephony v1, the newest delivered record's second.", ConstLabels: prometheus.Labels{"duo_host": host, "log": string(lt)},
		}, func() float64 {
			st := m.State(lt)
			if st.CursorTime.IsZero() {
				return 0
			}
			return float64(st.CursorTime.Unix())
		}))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "duo_connector_last_successful_poll_timestamp_seconds", Help: "Unix time of the last poll that finished without error.", ConstLabels: prometheus.Labels{"duo_host": host, "log": string(lt)},
		}, func() float64 {
			st := m.State(lt)
			if st.LastSuccess.IsZero() {
				return 0
			}
			return float64(st.LastSuccess.UnixNano()) / 1e9
		}))
	}
	return m
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
func (m *Metrics) PagePublished(lt duo.LogType, records, malformed int, publish time.Duration, cursorTime time.Time) {
	l := string(lt)
	m.recordsRead.WithLabelValues(l).Add(float64(records))
	m.recordsPublished.WithLabelValues(l).Add(float64(records))
	m.recordsMalformed.WithLabelValues(l).Add(float64(malformed))
	m.writeLatency.WithLabelValues(l).Observe(publish.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(lt)
	st.Records += records
	st.Malformed += malformed
	st.CursorTime = cursorTime
}

// CursorAt records where a log stands: its cursor, and how far Duo has
// been checked (at start and after every poll).
func (m *Metrics) CursorAt(lt duo.LogType, cursor, checked time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(lt)
	st.CursorTime, st.Checked = cursor, checked
}

// PollFinished records the outcome of a poll (the runner calls it).
func (m *Metrics) PollFinished(lt duo.LogType, err error) {
	result := "ok"
	m.mu.Lock()
	st := m.state(lt)
	if err != nil {
		result = "error"
		st.LastError = err.Error()
	} else {
		st.LastSuccess = m.now()
		st.LastError, st.Unready = "", ""
	}
	m.mu.Unlock()
	m.polls.WithLabelValues(string(lt), result).Inc()
}

// CursorNotSaved makes a log unready until a poll succeeds: Kafka has its
// pages, but its cursor cannot be saved, so they repeat every poll.
func (m *Metrics) CursorNotSaved(lt duo.LogType, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state(lt).Unready = err.Error()
}

func (m *Metrics) state(lt duo.LogType) *LogState {
	st := m.logs[lt]
	if st == nil {
		st = &LogState{}
		m.logs[lt] = st
	}
	return st
}

// State returns a copy of one log's state.
func (m *Metrics) State(lt duo.LogType) LogState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.state(lt)
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
		type logReport struct {
			Ready       bool      `json:"ready"`
			LastSuccess time.Time `json:"last_successful_poll,omitzero"`
			LastError   string    `json:"last_error,omitempty"`
		}
		report := struct {
			Ready bool                 `json:"ready"`
			Kafka string               `json:"kafka"`
			Logs  map[string]logReport `json:"logs"`
		}{Ready: true, Kafka: "ok", Logs: map[string]logReport{}}
		now := m.now()
		m.mu.Lock()
		names := make([]duo.LogType, 0, len(m.logs))
		for lt := range m.logs {
			names = append(names, lt)
		}
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		for _, lt := range names {
			st := m.logs[lt]
			ok := !st.LastSuccess.IsZero() && now.Sub(st.LastSuccess) <= time.Duration(h.Intervals)*h.Interval && st.Unready == ""
			report.Logs[string(lt)] = logReport{Ready: ok, LastSuccess: st.LastSuccess, LastError: st.LastError}
			report.Ready = report.Ready && ok
		}
		m.mu.Unlock()
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
