package pipeline_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/fault"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
	"github.com/duo-connector/duo-connector/connector/pipeline"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/normalize"
)

func TestMark(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"txid":"a"}`, `{"txid":"a","eventtype":"auth_log","host":"api-x.duosecurity.com"}`},
		{`{}`, `{"eventtype":"auth_log","host":"api-x.duosecurity.com"}`},
		{`{ }`, `{ "eventtype":"auth_log","host":"api-x.duosecurity.com"}`},
		{"{\n  \"a\": 1\n}", "{\n  \"a\": 1\n,\"eventtype\":\"auth_log\",\"host\":\"api-x.duosecurity.com\"}"},
		{`[1,2]`, `[1,2]`},
		{`"x"`, `"x"`},
	} {
		got := string(pipeline.Mark(nil, []byte(tc.in), "auth_log", "api-x.duosecurity.com"))
		if got != tc.want {
			t.Errorf("Mark(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if json.Valid([]byte(tc.in)) && !json.Valid([]byte(got)) {
			t.Errorf("Mark(%s) is not JSON: %s", tc.in, got)
		}
	}
}

// rig is one pipeline's world: a fake Duo, a broker, a cursor store.
type rig struct {
	srv    *duotest.Server
	broker *kafkatest.Broker
	client *duo.Client
	store  *checkpoint.FileStore
	pub    *publish.Publisher
	norm   *normalize.Normalizer
	now    time.Time
	recs   []duotest.Record
	dir    string // the state directory
	logger *slog.Logger
}

func newRig(t *testing.T, n int) *rig {
	t.Helper()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	srv := duotest.New(t, duotest.WithClock(func() time.Time { return now }))
	cfg := srv.ClientConfig()
	cfg.Retry = duo.RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxAttempts: 1}
	cfg.Now = func() time.Time { return now }
	client, err := duo.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	b := kafkatest.NewBroker(t, 1, "duo")
	pub, err := publish.New(publish.Config{Brokers: []string{b.Addr}, Topic: "duo", InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	norm, _ := normalize.New(normalize.Options{})
	recs := duotest.NewGenerator(5).Fill(duo.Auth, now.Add(-3*time.Hour), now.Add(-time.Hour), n)
	srv.Add(recs...)
	return &rig{srv: srv, broker: b, client: client, store: store, pub: pub, norm: norm, now: now, recs: recs, dir: dir}
}

var key = checkpoint.Key{Account: "acct", Log: "auth"}

func (r *rig) pipeline(t *testing.T, sink pipeline.Sink) *pipeline.Pipeline {
	t.Helper()
	if sink == nil {
		sink = r.pub
	}
	p, err := pipeline.New(context.Background(), r.client, duo.Auth, r.norm, sink, r.store, pipeline.Options{
		Host: r.srv.Host, Key: key, Topic: "duo", ShutdownTimeout: time.Second,
		Reader: duolog.Options{InitialLookback: 4 * time.Hour, Now: func() time.Time { return r.now }},
		Logger: r.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *rig) saved(t *testing.T) *duolog.Cursor {
	t.Helper()
	raw, ok, err := r.store.Load(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return nil
	}
	var c duolog.Cursor
	json.Unmarshal(raw, &c)
	return &c
}

func (r *rig) published(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, r.broker.Addr, "duo")
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// failingSink fails every Publish after the first ok ones.
type failingSink struct {
	inner pipeline.Sink
	ok    int
	mu    sync.Mutex
}

func (f *failingSink) Publish(ctx context.Context, msgs []publish.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return errors.New("kafka unavailable")
	}
	f.ok--
	return f.inner.Publish(ctx, msgs)
}

// TestCheckpointTable pins down where the cursor stands after each kind of
// failure, and that a new pipeline resumes exactly there, delivering the
// rest once.
func TestCheckpointTable(t *testing.T) {
	t.Run("Duo fails at once: no cursor saved", func(t *testing.T) {
		r := newRig(t, 2500)
		r.srv.Inject(duotest.Fault{Status: 500})
		if _, err := r.pipeline(t, nil).Drain(context.Background()); err == nil {
			t.Fatal("no error")
		}
		if c := r.saved(t); c != nil {
			t.Fatalf("cursor saved after a failed read: %+v", c)
		}
		r.resumeDeliversRest(t, 0)
	})
	t.Run("Kafka fails at once: no cursor saved", func(t *testing.T) {
		r := newRig(t, 2500)
		if _, err := r.pipeline(t, &failingSink{inner: r.pub}).Drain(context.Background()); err == nil {
			t.Fatal("no error")
		}
		if c := r.saved(t); c != nil {
			t.Fatalf("cursor saved after a failed publish: %+v", c)
		}
		r.resumeDeliversRest(t, 0)
	})
	t.Run("one page acked, then Duo fails: cursor after that page", func(t *testing.T) {
		r := newRig(t, 2500)
		p := r.pipeline(t, nil)
		r.srv.Inject(duotest.Fault{}) // a no-op on the first request
		r.srv.Inject(duotest.Fault{Status: 500})
		st, err := p.Drain(context.Background())
		if err == nil || st.Records != 1000 {
			t.Fatalf("Drain = %+v, %v; want 1000 records then an error", st, err)
		}
		c := r.saved(t)
		if c == nil || c.NextOffset == "" || c.MaxTimeMs == 0 {
			t.Fatalf("cursor %+v; want mid-window after page one", c)
		}
		r.resumeDeliversRest(t, 1000)
	})
	t.Run("one page acked, then Kafka fails: cursor after that page", func(t *testing.T) {
		r := newRig(t, 2500)
		st, err := r.pipeline(t, &failingSink{inner: r.pub, ok: 1}).Drain(context.Background())
		if err == nil || st.Records != 1000 {
			t.Fatalf("Drain = %+v, %v", st, err)
		}
		r.resumeDeliversRest(t, 1000)
	})
	t.Run("empty window: cursor moves to its end", func(t *testing.T) {
		r := newRig(t, 0)
		if _, err := r.pipeline(t, nil).Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := r.saved(t)
		if want := r.now.Add(-duolog.MinLag).UnixMilli() + 1; c == nil || c.MinTimeMs != want || c.MaxTimeMs != 0 {
			t.Fatalf("cursor %+v; want the next window to start at %d", c, want)
		}
	})
	t.Run("Kafka refuses the topic: this log's error, not the daemon's; no cursor", func(t *testing.T) {
		r := newRig(t, 100)
		r.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1})
		_, err := r.pipeline(t, nil).Drain(context.Background())
		var fe *publish.FatalError
		if fault.Of(err) == fault.Fatal || !errors.As(err, &fe) || fe.Topic != "duo" {
			t.Fatalf("err = %v; want a refusal of topic duo, not fatal to other logs", err)
		}
		if c := r.saved(t); c != nil {
			t.Fatalf("cursor saved: %+v", c)
		}
	})
}

// resumeDeliversRest drains with a fresh pipeline from the saved cursor and
// checks the total delivered equals the source exactly.
func (r *rig) resumeDeliversRest(t *testing.T, already int) {
	t.Helper()
	if got := r.published(t); got != already {
		t.Fatalf("%d messages published before resuming, want %d", got, already)
	}
	st, err := r.pipeline(t, nil).Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != len(r.recs)-already {
		t.Fatalf("resumed pipeline delivered %d, want the remaining %d", st.Records, len(r.recs)-already)
	}
	if got := r.published(t); got != len(r.recs) {
		t.Fatalf("%d messages in Kafka for %d records", got, len(r.recs))
	}
}

// slowSink holds every Publish until released.
type slowSink struct {
	inner   pipeline.Sink
	release chan struct{}
	entered chan struct{}
}

func (s *slowSink) Publish(ctx context.Context, msgs []publish.Message) error {
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.inner.Publish(ctx, msgs)
}

// TestShutdownFinishesPageInFlight: cancelling during a publish lets the
// page finish (and its cursor be saved) within the shutdown timeout.
func TestShutdownFinishesPageInFlight(t *testing.T) {
	r := newRig(t, 2500)
	sink := &slowSink{inner: r.pub, release: make(chan struct{}), entered: make(chan struct{}, 1)}
	p := r.pipeline(t, sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Drain(ctx); done <- err }()
	<-sink.entered
	cancel()
	time.Sleep(100 * time.Millisecond)
	close(sink.release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain = %v", err)
	}
	if c := r.saved(t); c == nil || c.NextOffset == "" {
		t.Fatalf("the page in flight was not completed: cursor %+v", c)
	}
	if got := r.published(t); got != 1000 {
		t.Fatalf("%d published, want the one page", got)
	}
}

// TestShutdownAbandonsStuckPage: a page Kafka does not acknowledge within
// the shutdown timeout is abandoned, and its cursor not saved.
func TestShutdownAbandonsStuckPage(t *testing.T) {
	r := newRig(t, 2500)
	sink := &slowSink{inner: r.pub, release: make(chan struct{}), entered: make(chan struct{}, 1)}
	var logs lockedBuffer
	r.logger = slog.New(slog.NewTextHandler(&logs, nil))
	p := r.pipeline(t, sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Drain(ctx); done <- err }()
	<-sink.entered
	cancel()
	err := <-done // ShutdownTimeout is 1 s
	if err == nil || !strings.Contains(err.Error(), "abandoned at shutdown") {
		t.Fatalf("Drain = %v", err)
	}
	// The wait was not silent: it said what it waited for, and how long.
	if !strings.Contains(logs.String(), "waiting up to 1s for Kafka to acknowledge the page in flight") {
		t.Fatalf("log: %s", logs.String())
	}
	// Nor was giving up: it says what repeats.
	if !strings.Contains(logs.String(), `level=WARN msg="stopping: page abandoned after the 1s shutdown timeout: Kafka did not acknowledge it; its records are read again`) ||
		!strings.Contains(logs.String(), "records=1000") {
		t.Fatalf("log: %s", logs.String())
	}
	if c := r.saved(t); c != nil {
		t.Fatalf("cursor saved for an abandoned page: %+v", c)
	}
}

// TestMalformedRecordsArePublished: a record Duo sent that is not a JSON
// object is published with error.message, not dropped.
func TestMalformedRecordsArePublished(t *testing.T) {
	r := newRig(t, 0)
	bad := duotest.Record{Type: duo.Auth, Time: r.now.Add(-time.Hour), ID: "zzz", Raw: []byte(`["not","an","object"]`)}
	good := duotest.NewGenerator(9).Record(duo.Auth, r.now.Add(-time.Hour))
	r.srv.Add(bad, good)
	st, err := r.pipeline(t, nil).Drain(context.Background())
	if err != nil || st.Records != 2 || st.Malformed != 1 {
		t.Fatalf("Drain = %+v, %v", st, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, _ := kafkatest.ReadAll(ctx, r.broker.Addr, "duo")
	found := false
	for _, m := range recs {
		if strings.Contains(string(m.Value), `"error":{"message":"record is a JSON array, not an object"}`) {
			found = true
		}
	}
	if len(recs) != 2 || !found {
		t.Fatalf("published %d, malformed one found: %v", len(recs), found)
	}
}

// TestInvalidRecordDoesNotStopTheLog: a record that is not JSON inside
// (here invalid UTF-8 and a misspelt literal) does not fail its page, which
// would stop the log for good at every poll: it is published with
// error.message, and the records around it as usual.
func TestInvalidRecordDoesNotStopTheLog(t *testing.T) {
	r := newRig(t, 0)
	gen := duotest.NewGenerator(9)
	at := r.now.Add(-time.Hour)
	r.srv.Add(gen.Record(duo.Auth, at),
		duotest.Record{Type: duo.Auth, Time: at.Add(time.Millisecond), ID: "bad1", Raw: []byte("{\"txid\":\"bad1\",\"user\":\"\xff\"}")},
		duotest.Record{Type: duo.Auth, Time: at.Add(2 * time.Millisecond), ID: "bad2", Raw: []byte(`{"txid":"bad2","ok":tru}`)},
		gen.Record(duo.Auth, at.Add(3*time.Millisecond)))
	st, err := r.pipeline(t, nil).Drain(context.Background())
	if err != nil || st.Records != 4 || st.Malformed != 2 {
		t.Fatalf("Drain = %+v, %v", st, err)
	}
	if n := r.published(t); n != 4 {
		t.Fatalf("%d published, want 4", n)
	}
	if c := r.saved(t); c == nil || c.MaxTimeMs != 0 {
		t.Fatalf("the window was not completed: cursor %+v", c)
	}
}

// TestCursorNotSaved: the state directory becomes unusable after start-up.
// The page Kafka acknowledged counts as published, and the error says the
// cursor was not saved and the page will be published again.
func TestCursorNotSaved(t *testing.T) {
	r := newRig(t, 2500)
	p := r.pipeline(t, nil)
	if err := os.Rename(r.dir, r.dir+".moved"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(r.dir, nil, 0o600) // the directory is now a file
	st, err := p.Drain(context.Background())
	var nse *pipeline.CursorNotSavedError
	if !errors.As(err, &nse) || nse.Published != 1000 || st.Records != 1000 {
		t.Fatalf("stats %+v, err %v", st, err)
	}
	for _, want := range []string{"published 1000 records", "cursor not saved", "again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if n := r.published(t); n != 1000 {
		t.Fatalf("%d messages in Kafka, want the 1000 of the first page", n)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInFlightSlotNotHeldWhileReading: two logs share one page slot; while
// one waits on a slow Duo answer, the other's pages go through: a slot is
// taken only for a page already read.
func TestInFlightSlotNotHeldWhileReading(t *testing.T) {
	r := newRig(t, 10) // auth records
	r.srv.Add(duotest.NewGenerator(3).Fill(duo.Telephony, r.now.Add(-3*time.Hour), r.now.Add(-time.Hour), 10)...)
	shared := pipeline.NewInFlight(1)
	newPipeline := func(lt duo.LogType) *pipeline.Pipeline {
		p, err := pipeline.New(context.Background(), r.client, lt, r.norm, r.pub, r.store, pipeline.Options{
			Host: r.srv.Host, Key: checkpoint.Key{Account: "acct", Log: string(lt)}, Topic: "duo", InFlight: shared,
			Reader: duolog.Options{InitialLookback: 4 * time.Hour, Now: func() time.Time { return r.now }},
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	slow, fast := newPipeline(duo.Auth), newPipeline(duo.Telephony)
	r.srv.Inject(duotest.Fault{Path: duo.PathAuthV2, Delay: 3 * time.Second})
	done := make(chan duo.LogType, 2)
	go func() { slow.Drain(context.Background()); done <- duo.Auth }()
	time.Sleep(200 * time.Millisecond) // the slow one is waiting on Duo
	go func() { fast.Drain(context.Background()); done <- duo.Telephony }()
	if first := <-done; first != duo.Telephony {
		t.Fatal("the log waiting on Duo held the only page slot: the other waited for it")
	}
	<-done
}

// TestOversizedRecordPublishedCut: a record whose document is larger than
// Kafka takes is published in a form that fits (its event id, the record
// cut in message, error.message saying so), so the cursor moves on and
// the records after it are delivered (issue 19, item 14: the publish
// failed for good, and the daemon restarted on the same page forever).
func TestOversizedRecordPublishedCut(t *testing.T) {
	r := newRig(t, 0)
	gen := duotest.NewGenerator(9)
	big := gen.Record(duo.Auth, r.now.Add(-2*time.Hour))
	big.Raw = append(big.Raw[:len(big.Raw)-1], []byte(`,"pad":"`+strings.Repeat(`é\"x`, 300_000)+`"}`)...)
	after := gen.Spread(duo.Auth, r.now.Add(-2*time.Hour+time.Minute), r.now.Add(-time.Hour), 50)
	r.srv.Add(big)
	r.srv.Add(after...)
	p := r.pipeline(t, nil)
	if _, err := p.Drain(context.Background()); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if c := r.saved(t); c == nil || c.MinTimeMs <= r.now.Add(-time.Hour).UnixMilli() {
		t.Fatalf("cursor %+v did not move past the records", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, r.broker.Addr, "duo")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 51 {
		t.Fatalf("%d messages for 51 records", len(recs))
	}
	for _, m := range recs {
		if string(m.Key) != big.ID {
			continue
		}
		var d struct {
			Event   struct{ ID string }
			Message string
			Error   struct{ Message string }
		}
		if err := json.Unmarshal(m.Value, &d); err != nil || d.Event.ID != big.ID || !strings.Contains(d.Error.Message, "more than Kafka takes") ||
			!strings.HasPrefix(string(big.Raw), d.Message) || len(m.Value) > 1<<20 {
			t.Fatalf("oversized record published as %d bytes: %.300s (%v)", len(m.Value), m.Value, err)
		}
		return
	}
	t.Fatalf("the oversized record (%s) is missing", big.ID)
}

// TestRecordOverTopicLimitPublishedCut: a record under kafka.batch_bytes
// but over the topic's max.message.bytes is refused by the broker; the page
// is published again with it cut to fit, so its log goes on (issue 19,
// item 14: the topic's limit stopped the log for good).
func TestRecordOverTopicLimitPublishedCut(t *testing.T) {
	r := newRig(t, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	limit := "150000"
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &limit}, "small"); err != nil {
		t.Fatal(err)
	}
	gen := duotest.NewGenerator(10)
	big := gen.Record(duo.Auth, r.now.Add(-2*time.Hour))
	noise := make([]byte, 225_000)
	rand.Read(noise)
	big.Raw = append(big.Raw[:len(big.Raw)-1], []byte(`,"pad":"`+base64.StdEncoding.EncodeToString(noise)+`"}`)...)
	r.srv.Add(big)
	r.srv.Add(gen.Spread(duo.Auth, r.now.Add(-2*time.Hour+time.Minute), r.now.Add(-time.Hour), 50)...)
	p, err := pipeline.New(context.Background(), r.client, duo.Auth, r.norm, r.pub, r.store, pipeline.Options{
		Host: r.srv.Host, Key: key, Topic: "small", ShutdownTimeout: time.Second,
		Reader: duolog.Options{InitialLookback: 4 * time.Hour, Now: func() time.Time { return r.now }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Drain(context.Background()); err != nil {
		t.Fatalf("drain: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, r.broker.Addr, "small")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, m := range recs {
		keys[string(m.Key)] = true
		if string(m.Key) == big.ID && !strings.Contains(string(m.Value), "more than Kafka takes") {
			t.Fatalf("the large record published as %.200s", m.Value)
		}
	}
	if len(keys) != 51 || !keys[big.ID] {
		t.Fatalf("%d records of 51 published (the large one: %v)", len(keys), keys[big.ID])
	}
}

// TestElasticEventIDs: with the elastic mapping every document carries
// event.id, the message's key: an auth record's txid, an admin record's
// hash (which the normalizer cannot know; the pipeline gives it).
func TestElasticEventIDs(t *testing.T) {
	r := newRig(t, 30)
	admins := duotest.NewGenerator(6).Fill(duo.Admin, r.now.Add(-3*time.Hour), r.now.Add(-time.Hour), 20)
	r.srv.Add(admins...)
	norm, err := normalize.New(normalize.Options{Mapping: normalize.Elastic})
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range []duo.LogType{duo.Auth, duo.Admin} {
		p, err := pipeline.New(context.Background(), r.client, lt, norm, r.pub, r.store, pipeline.Options{
			Host: r.srv.Host, Key: checkpoint.Key{Account: "acct", Log: string(lt)}, Topic: "duo", ShutdownTimeout: time.Second,
			Reader: duolog.Options{InitialLookback: 4 * time.Hour, Now: func() time.Time { return r.now }},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, r.broker.Addr, "duo")
	if err != nil || len(recs) != 50 {
		t.Fatalf("%d messages (%v), want 50", len(recs), err)
	}
	for _, m := range recs {
		var doc struct {
			Event struct{ ID, Dataset string }
		}
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Event.ID == "" || doc.Event.ID != string(m.Key) {
			t.Errorf("%s document: event.id %q, key %q", doc.Event.Dataset, doc.Event.ID, m.Key)
		}
	}
}
