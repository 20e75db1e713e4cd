// Package pipeline moves one log of one Duo account to Kafka: read a page,
// mark each record with its eventtype and host, normalize it, publish the
// page and wait for the acknowledgement, and only then save the cursor.
// Never the other order: a cursor never passes a record Kafka has not
// acknowledged, so a crash at any moment loses nothing and repeats at most
// the page in flight.
package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/internal/backoff"
	"github.com/duo-connector/duo-connector/connector/internal/liveness"
	"github.com/duo-connector/duo-connector/connector/internal/logctx"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/normalize"
)

// Sink publishes messages, returning nil only once all are acknowledged.
type Sink interface {
	Publish(ctx context.Context, msgs []publish.Message) error
}

var _ Sink = (*publish.Publisher)(nil)

// Options configure a Pipeline.
type Options struct {
	// Host is the Admin API host, added to every record as "host".
	Host string
	// Account is the Duo account read: its name in metrics and Kafka
	// headers, in {account} of the topic.
	Account accounts.Account
	// Key is where the cursor is kept.
	Key checkpoint.Key
	// Topic is the topic or topic template (see publish.TopicFor).
	Topic string
	// PublishTime stamps messages with the time of publishing instead of
	// the record's own time.
	PublishTime bool
	// ShutdownTimeout is how long the page in flight may still take once
	// the context is cancelled (default 30s).
	ShutdownTimeout time.Duration
	// Reader configures the log reader (its Now is also the pipeline's
	// clock).
	Reader duolog.Options
	// Logger receives per-page progress (default: discard).
	Logger *slog.Logger
	// Observer, when set, is told about every page delivered.
	Observer Observer
	// InFlight, when set, is the bound on pages in memory shared with
	// other pipelines (default: one page, this pipeline's own).
	InFlight *InFlight
	// MaxMessageBytes is the largest message Kafka takes (the publisher's
	// kafka.batch_bytes; default 1 MiB): a record whose document is larger
	// is published cut to fit, rather than stop its log for good.
	MaxMessageBytes int64
}

// Observer receives what a pipeline does, for metrics.
type Observer interface {
	// PagePublished reports a delivered page: its records, how many could
	// not be normalized, how many were too large for Kafka (published cut
	// to fit), how long Kafka took, and the cursor's time.
	PagePublished(account string, lt duo.LogType, records, malformed, oversized int, publish time.Duration, cursorTime time.Time)
}

// Pipeline runs one log.
type Pipeline struct {
	lt     duo.LogType
	reader *duolog.Reader
	norm   *normalize.Normalizer
	sink   Sink
	store  checkpoint.Store
	opts   Options
	topic  string
	saved  []byte // the cursor last saved, to skip rewriting it unchanged
	// through is how far Duo has been checked (see duolog.Page.Through).
	through time.Time
	// suffix is the "eventtype" and "host" members added to each record.
	suffix []byte
	// writesID: the mapping writes event.id, a v1 record's hash included.
	writesID bool
}

// New loads the log's cursor from store and returns its pipeline. A cursor
// that cannot be read is an error: the pipeline never silently starts over.
func New(ctx context.Context, client *duo.Client, lt duo.LogType, norm *normalize.Normalizer, sink Sink, store checkpoint.Store, opts Options) (*Pipeline, error) {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Reader.Now == nil {
		opts.Reader.Now = time.Now
	}
	if opts.InFlight == nil {
		opts.InFlight = NewInFlight(1)
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 1 << 20
	}
	opts.Reader.Logger = opts.Logger
	opts.Reader.ResetCommand = opts.Key.ResetCommand()
	raw, ok, err := store.Load(ctx, opts.Key)
	if err != nil {
		return nil, err
	}
	var cur *duolog.Cursor
	var saved []byte
	if ok {
		saved = raw
		c, err := duolog.ParseCursor(raw)
		if err != nil {
			ce := &checkpoint.CorruptError{Key: opts.Key, Reason: err}
			if l, ok := store.(interface{ Path(checkpoint.Key) string }); ok {
				ce.Path = l.Path(opts.Key)
			}
			return nil, ce
		}
		cur = &c
	}
	return &Pipeline{
		lt:     lt,
		reader: duolog.NewReader(client, lt, cur, opts.Reader),
		norm:   norm,
		sink:   sink,
		store:  store,
		opts:   opts,
		topic:  publish.TopicFor(opts.Topic, lt.EventType(), string(lt), opts.Account.TopicName()),
		saved:  saved,
		suffix: markSuffix(lt.EventType(), opts.Host),

		writesID: norm.Mapping() == normalize.Elastic,
	}, nil
}

// Cursor returns the position the pipeline has reached (and saved).
func (p *Pipeline) Cursor() duolog.Cursor { return p.reader.Cursor() }

// V1 reports whether the log is read from a v1 endpoint (cursors in
// whole seconds).
func (p *Pipeline) V1() bool { return p.reader.V1() }

// CursorTime returns how far the log has been delivered.
func (p *Pipeline) CursorTime() time.Time { return p.reader.Cursor().Time() }

// CheckedThrough returns how far Duo has been checked: every record up to
// it is delivered. Unlike CursorTime it keeps up with the clock on a quiet
// log.
func (p *Pipeline) CheckedThrough() time.Time { return later(p.through, p.CursorTime()) }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Progress is where a log stands, to tell whether a turn moved it.
type Progress struct {
	cursor  string
	through time.Time
	answers int
}

// Progress returns where the log stands now.
func (p *Pipeline) Progress() Progress {
	return Progress{cursor: string(p.saved), through: p.CheckedThrough(), answers: p.reader.Answers()}
}

// Since tells what happened between earlier and pr: whether the log made
// progress (its saved cursor moved, or Duo confirmed it caught up further),
// and whether Duo answered at all.
func (pr Progress) Since(earlier Progress) (progressed, answered bool) {
	return pr.cursor != earlier.cursor || pr.through.After(earlier.through), pr.answers > earlier.answers
}

// Stats counts what one Drain did.
type Stats struct {
	Pages     int
	Records   int
	Malformed int
}

// Drain publishes pages until the log is caught up, ctx is cancelled (the
// page in flight is finished within the shutdown timeout first) or an
// error occurs, sleeping through the waits Duo's client asks for (see
// duo.Await). Stats count what was published and saved.
func (p *Pipeline) Drain(ctx context.Context) (Stats, error) {
	var total Stats
	for {
		st, _, err := p.DrainPages(ctx, 0)
		total.Pages += st.Pages
		total.Records += st.Records
		total.Malformed += st.Malformed
		var later *duo.RetryLaterError
		if !errors.As(err, &later) {
			return total, err
		}
		if err := backoff.Sleep(ctx, later.Wait); err != nil {
			return total, err
		}
	}
}

// DrainPages is one turn of a scheduler serving many logs: it publishes at
// most maxPages pages (0: no limit) and reports whether the log has more
// to read then, so that one log's backlog does not hold the others back.
// It never waits for Duo: a spent budget or a failure worth retrying ends
// the turn with a *duo.RetryLaterError, and the next turn goes on from
// the request that was not made.
func (p *Pipeline) DrainPages(ctx context.Context, maxPages int) (st Stats, more bool, err error) {
	ctx = logctx.With(ctx, p.opts.Logger)
	for turn := 1; ; turn++ {
		if err := ctx.Err(); err != nil {
			return st, false, err
		}
		liveness.Mark(ctx)
		page, err := p.reader.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return st, false, ctx.Err()
			}
			return st, false, err
		}
		// The slot is taken once the page is read: a log waiting on Duo
		// (a 429 backoff can last minutes) must not hold up the others.
		pb, err := p.opts.InFlight.acquire(ctx)
		if err != nil {
			page.Release()
			return st, false, err
		}
		malformed, published, err := p.deliver(ctx, page, pb)
		page.Release() // its records are in the page's messages now
		p.opts.InFlight.release(pb, published)
		var nse *CursorNotSavedError
		if errors.As(err, &nse) {
			st.Pages++
			st.Records += nse.Published
			st.Malformed += malformed
		}
		if err != nil {
			return st, false, err
		}
		p.reader.Advance(page.Cursor)
		if page.Through.After(p.through) {
			p.through = page.Through
		}
		st.Pages++
		st.Records += len(page.Records)
		st.Malformed += malformed
		if len(page.Records) > 0 {
			p.opts.Logger.Debug("page delivered", "records", len(page.Records), "cursor", page.Cursor.Time().UTC())
		}
		if !page.More {
			return st, false, nil
		}
		if maxPages > 0 && turn >= maxPages {
			return st, true, nil
		}
	}
}

// deliver publishes a page and saves its cursor. Cancelling ctx gives the
// page ShutdownTimeout more to be acknowledged; past that it is abandoned
// and its cursor not saved (it will be read again).
//
// published reports whether Kafka took the page (or there was none), so
// that pb's buffers may be written again.
func (p *Pipeline) deliver(ctx context.Context, page duolog.Page, pb *pageBuffers) (malformed int, published bool, err error) {
	pubCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if len(page.Records) > 0 {
			p.opts.Logger.Info(fmt.Sprintf("stopping: waiting up to %s for Kafka to acknowledge the page in flight; past that it is abandoned, its cursor not saved, and it is read again next time", p.opts.ShutdownTimeout),
				"records", len(page.Records))
		}
		time.AfterFunc(p.opts.ShutdownTimeout, cancel)
	})
	defer stop()

	// reusable: pb may be written into again once the page is delivered.
	reusable := true
	if len(page.Records) > 0 {
		limit := p.opts.MaxMessageBytes
		msgs, bad, oversized := p.messages(pb, page.Records, page.Hashes, limit)
		malformed = bad
		start := time.Now()
		for {
			err := p.sink.Publish(pubCtx, msgs)
			if err == nil {
				break
			}
			// The Kafka client may still hold the page's bytes in a
			// batch it gave up on: pb is never written into again.
			reusable = false
			if pubCtx.Err() != nil && ctx.Err() != nil {
				p.abandoned("Kafka did not acknowledge it", len(page.Records))
				return 0, false, fmt.Errorf("publish %s page: abandoned at shutdown after %s: %w", p.lt, p.opts.ShutdownTimeout, ctx.Err())
			}
			var fe *publish.FatalError
			if next := largest(msgs) / 2; errors.As(err, &fe) && fe.TooLarge && next >= minMessageLimit {
				// The topic takes less than kafka.batch_bytes: one
				// record too large for it must not hold its log back
				// for good. Again, with the largest cut to fit.
				p.opts.Logger.Warn("Kafka refused a message as larger than the topic takes (its max.message.bytes is below kafka.batch_bytes); publishing the page again with records cut to fit",
					"limit", next, "error", err)
				limit, pb = next, &pageBuffers{}
				msgs, malformed, oversized = p.messages(pb, page.Records, page.Hashes, limit)
				continue
			}
			return 0, false, fmt.Errorf("publish %s page: %w", p.lt, err)
		}
		if o := p.opts.Observer; o != nil {
			o.PagePublished(p.opts.Account.Label(), p.lt, len(page.Records), malformed, oversized, time.Since(start), page.Cursor.Time())
		}
	}
	cur, err := json.Marshal(page.Cursor)
	if err != nil {
		return 0, reusable, err
	}
	if bytes.Equal(cur, p.saved) {
		return malformed, reusable, nil
	}
	if err := p.store.Save(pubCtx, p.opts.Key, cur); err != nil {
		if pubCtx.Err() != nil && ctx.Err() != nil {
			p.abandoned("its cursor could not be saved", len(page.Records))
		}
		return malformed, reusable, &CursorNotSavedError{Published: len(page.Records), Err: err}
	}
	p.saved = cur
	return malformed, reusable, nil
}

// abandoned says that the page in flight was given up at shutdown, and
// what that costs: its records are read again, and may repeat in Kafka.
func (p *Pipeline) abandoned(why string, records int) {
	if records == 0 {
		return
	}
	p.opts.Logger.Warn(fmt.Sprintf("stopping: page abandoned after the %s shutdown timeout: %s; its records are read again next time and may be published twice (same event ids)", p.opts.ShutdownTimeout, why),
		"records", records)
}

// pageBuffers are one page's messages and the bytes they point into,
// reused from page to page: a page is about a thousand documents, and
// allocating them anew each time is most of the garbage the connector
// would make.
type pageBuffers struct {
	buf     []byte
	spliced []byte
	msgs    []publish.Message
	headers []publish.Header
	spans   []span
}

// span locates a message's key and value in buf.
type span struct{ key, value [2]int }

// messages turns raw records into Kafka messages: the record marked with
// eventtype and host, normalized; the event id as key and header. hashes,
// when the reader gave them, are the ids of records without one of their
// own. The messages point into pb: they are valid until pb is lent to
// another page.
func (p *Pipeline) messages(pb *pageBuffers, recs []json.RawMessage, hashes []string, limit int64) (msgs []publish.Message, malformed, oversized int) {
	// A document is about the record, escaped, plus a few hundred bytes
	// of fields and the id; the buffer grows if a page needs more.
	size := 0
	for _, r := range recs {
		size += len(r)*13/10 + 450
	}
	if cap(pb.buf) < size {
		pb.buf = make([]byte, 0, size)
	}
	buf := pb.buf[:0]
	pb.msgs = slices.Grow(pb.msgs[:0], len(recs))[:len(recs)]
	nh := 4
	if p.opts.Account.Name != "" {
		nh = 5
	}
	pb.headers = slices.Grow(pb.headers[:0], nh*len(recs))[:nh*len(recs)]
	pb.spans = slices.Grow(pb.spans[:0], len(recs))[:len(recs)]
	hostHeader, typeHeader := []byte(p.opts.Host), []byte(p.lt.EventType())
	accountID, accountName := []byte(p.opts.Account.ID), []byte(p.opts.Account.Name)
	if len(accountID) == 0 {
		accountID = []byte(p.opts.Account.Key())
	}
	// What a message takes beyond its value and key: its headers, and
	// kafka-go's own count of a few dozen bytes.
	overhead := 64 + len(hostHeader) + len(typeHeader) + len(accountID) + len(accountName) + 4*16
	now := p.opts.Reader.Now()
	for i, raw := range recs {
		sp := &pb.spans[i]
		pb.spliced = mark(pb.spliced[:0], raw, p.suffix)
		sp.value[0] = len(buf)
		var meta normalize.Meta
		var err error
		var hash []byte // a v1 record's event id, for the mapping that writes it
		if i < len(hashes) && p.writesID {
			hash = []byte(hashes[i])
		}
		buf, meta, err = p.norm.AppendMetaID(buf, pb.spliced, hash)
		sp.value[1] = len(buf)
		var id []byte
		switch {
		case meta.ID != nil:
			id = meta.ID
		case hash != nil:
			id = hash
		case i < len(hashes):
			id = []byte(hashes[i])
		default:
			id = []byte(duolog.RecordHash(raw))
		}
		if size := int64(sp.value[1]-sp.value[0]+2*len(id)+overhead) + 32; size > limit {
			// One record too large for Kafka must not stop its log, and
			// every log behind it, for good: its place is taken by a
			// document that fits, with the record cut.
			oversized++
			buf = p.appendOversized(buf[:sp.value[0]], raw, id, meta.Time, size, limit, limit-int64(2*len(id)+overhead)-32)
			sp.value[1] = len(buf)
		}
		buf = append(buf, id...)
		sp.key = [2]int{sp.value[1], len(buf)}
		if err != nil {
			malformed++
			p.opts.Logger.Warn("record is not a JSON object; publishing it with error.message", "event_id", string(buf[sp.key[0]:sp.key[1]]), "error", err)
		}
		ts := now
		if !p.opts.PublishTime && !meta.Time.IsZero() {
			ts = meta.Time
		}
		pb.msgs[i] = publish.Message{Topic: p.topic, Time: ts}
	}
	// Only now that buf has stopped growing can messages point into it.
	for i := range pb.msgs {
		sp := pb.spans[i]
		key := buf[sp.key[0]:sp.key[1]:sp.key[1]]
		h := pb.headers[nh*i : nh*i+nh : nh*i+nh]
		h[0] = publish.Header{Key: "duo.eventtype", Value: typeHeader}
		h[1] = publish.Header{Key: "duo.host", Value: hostHeader}
		h[2] = publish.Header{Key: "event.id", Value: key}
		h[3] = publish.Header{Key: "duo.account_id", Value: accountID}
		if nh == 5 {
			h[4] = publish.Header{Key: "duo.account_name", Value: accountName}
		}
		pb.msgs[i].Key = key
		pb.msgs[i].Value = buf[sp.value[0]:sp.value[1]:sp.value[1]]
		pb.msgs[i].Headers = h
	}
	pb.buf = buf
	return pb.msgs, malformed, oversized
}

// minMessageLimit is the smallest message limit a page is published again
// with when the topic refuses one as too large: below it, the topic takes
// less than any batch, which is a configuration to fix.
const minMessageLimit = 64 << 10

// largest returns the size of msgs' largest value.
func largest(msgs []publish.Message) int64 {
	n := 0
	for _, m := range msgs {
		n = max(n, len(m.Value))
	}
	return int64(n)
}

// appendOversized appends, in place of a record's document of size bytes,
// one of at most limit bytes: its event id and time, the record's text cut
// to fit in message, and error.message saying so. Rare enough to be
// encoded the plain way.
func (p *Pipeline) appendOversized(dst, raw, id []byte, at time.Time, size, maxMessage, limit int64) []byte {
	type doc struct {
		Timestamp string `json:"@timestamp,omitempty"`
		Event     struct {
			ID      string `json:"id"`
			Dataset string `json:"dataset"`
		} `json:"event"`
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
		Observer struct {
			Vendor  string `json:"vendor"`
			Product string `json:"product"`
		} `json:"observer"`
	}
	var d doc
	if !at.IsZero() {
		d.Timestamp = at.UTC().Format("2006-01-02T15:04:05.999999Z")
	}
	d.Event.ID, d.Event.Dataset = string(id), p.lt.EventType()
	d.Observer.Vendor, d.Observer.Product = "Duo", "Duo Security"
	for keep := min(int64(len(raw)), limit/2); ; keep /= 2 {
		n := keep
		for n > 0 && n < int64(len(raw)) && !utf8.RuneStart(raw[n]) { // not within a character
			n--
		}
		cut := raw[:n]
		d.Message = string(cut)
		d.Error.Message = fmt.Sprintf("the record's document was %d bytes, more than Kafka takes (%d): published with message cut to its first %d of %d bytes; the whole record stays in Duo's log",
			size, maxMessage, len(cut), len(raw))
		b, err := json.Marshal(d)
		if err == nil && int64(len(b)) <= limit || keep == 0 {
			p.opts.Logger.Warn("record too large for Kafka; published cut to fit, with error.message", "event_id", string(id), "bytes", size, "limit", maxMessage)
			return append(dst, b...)
		}
	}
}

// Mark appends raw with "eventtype" and "host" members added, without
// re-encoding anything: the members are spliced in before the closing
// brace. A record that is not an object is appended unchanged.
func Mark(dst, raw []byte, eventtype, host string) []byte {
	return mark(dst, raw, markSuffix(eventtype, host))
}

// markSuffix encodes the members Mark adds, once per pipeline rather than
// once per record.
func markSuffix(eventtype, host string) []byte {
	et, _ := json.Marshal(eventtype)
	h, _ := json.Marshal(host)
	return fmt.Appendf(nil, `"eventtype":%s,"host":%s}`, et, h)
}

func mark(dst, raw, suffix []byte) []byte {
	body := bytes.TrimSpace(raw)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return append(dst, raw...)
	}
	dst = append(dst, body[:len(body)-1]...)
	if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
		dst = append(dst, ',')
	}
	return append(dst, suffix...)
}

// CursorNotSavedError reports a page Kafka acknowledged whose cursor could
// not be saved: nothing is lost, but the page will be published again.
type CursorNotSavedError struct {
	// Published is how many records the page had.
	Published int
	Err       error
}

func (e *CursorNotSavedError) Error() string {
	return fmt.Sprintf("published %d records to Kafka, cursor not saved (%v): they will be published again, with the same event ids, until it can be; fix the state directory (writable, not full)", e.Published, e.Err)
}

func (e *CursorNotSavedError) Unwrap() error { return e.Err }
