// Package normalize turns one raw Duo Admin API log record into the ECS
// document the connector publishes, following the field-by-field mapping
// rules of MAPPING.md in this package (revisions v1 and v2).
//
// It is pure: no I/O, no clock, but the lookups of the optional GeoIP
// databases (package geoip), which are memory-mapped. A Normalizer is safe
// for concurrent use.
package normalize

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/duo-connector/duo-connector/normalize/geoip"
	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// Mapping is a revision of the Duo → ECS mapping.
type Mapping string

const (
	// V1 is the reference document's mapping, the default.
	V1 Mapping = "v1"
	// V2 adds outcomes, auth user.name, admin logins as authentication,
	// fields from the admin description and observer.hostname.
	V2 Mapping = "v2"
	// Elastic has the fields of Elastic's Cisco Duo integration, and
	// keeps every member of the record under cisco_duo.<dataset>.
	Elastic Mapping = "elastic"
)

// ParseMapping returns the mapping named s ("" means V1).
func ParseMapping(s string) (Mapping, error) {
	switch Mapping(s) {
	case "", V1:
		return V1, nil
	case V2:
		return V2, nil
	case Elastic:
		return Elastic, nil
	}
	return "", fmt.Errorf("unknown mapping %q: use v1, v2 or elastic", s)
}

// Options configure a Normalizer.
type Options struct {
	// Mapping selects the mapping revision; the zero value means V1.
	Mapping Mapping
	// UACacheSize is how many parsed user-agent strings are kept
	// (default 1024).
	UACacheSize int
	// GeoIP names the databases the elastic mapping finds locations and
	// networks in (none by default). New opens them; Close closes them.
	GeoIP geoip.Config
}

// Normalizer converts raw records to ECS documents.
type Normalizer struct {
	v2      bool
	elastic bool
	ua      *uaCache
	geo     *geoip.DB
	states  sync.Pool
}

// New returns a Normalizer for opts.
func New(opts Options) (*Normalizer, error) {
	m, err := ParseMapping(string(opts.Mapping))
	if err != nil {
		return nil, err
	}
	if opts.UACacheSize == 0 {
		opts.UACacheSize = 1024
	}
	n := &Normalizer{v2: m == V2, elastic: m == Elastic, ua: newUACache(opts.UACacheSize)}
	n.states.New = func() any { return new(state) }
	if opts.GeoIP.Enabled() {
		if m != Elastic {
			return nil, fmt.Errorf("geoip: only the elastic mapping uses GeoIP databases (the mapping is %s)", m)
		}
		if n.geo, err = geoip.Open(opts.GeoIP); err != nil {
			return nil, fmt.Errorf("geoip: %w", err)
		}
	}
	return n, nil
}

// Close releases the GeoIP databases. A Normalizer without them needs no
// Close.
func (n *Normalizer) Close() error {
	return n.geo.Close()
}

// Mapping returns the mapping revision n applies.
func (n *Normalizer) Mapping() Mapping {
	switch {
	case n.v2:
		return V2
	case n.elastic:
		return Elastic
	}
	return V1
}

// RecordError reports a record that is not a JSON object. Its document is
// still produced, carrying the raw text and error.message.
type RecordError struct {
	Reason string
}

func (e *RecordError) Error() string { return "malformed record: " + e.Reason }

// Normalize returns the ECS document for raw. When raw is not a JSON
// object, the document holds raw in message plus error.message, and the
// error is a *RecordError.
func (n *Normalizer) Normalize(raw []byte) ([]byte, error) {
	return n.Append(nil, raw)
}

// Append is Normalize appending the document to dst.
func (n *Normalizer) Append(dst, raw []byte) ([]byte, error) {
	dst, _, err := n.AppendMeta(dst, raw)
	return dst, err
}

// Meta is what a record says of itself besides its document, read in the
// same pass: its own unique id and its time.
type Meta struct {
	// ID is the record's unique id, unescaped: txid for auth_log,
	// telephony_id for telephony_log; nil for logs whose records have
	// none. It may point into raw.
	ID []byte
	// Time is the record's time: isotimestamp, else ts, else timestamp
	// (Unix seconds); zero when it has none.
	Time time.Time
	// Unidentified: the record has no eventtype the mapping knows, so its
	// document holds little more than its message.
	Unidentified bool
}

// AppendMeta is Append, also returning the record's Meta.
func (n *Normalizer) AppendMeta(dst, raw []byte) ([]byte, Meta, error) {
	return n.AppendMetaID(dst, raw, nil)
}

// AppendMetaID is AppendMeta for a record whose event id, when it has none
// of its own (a v1 log's: see Meta.ID), is id: the elastic mapping writes
// it as event.id. The other mappings do not use it.
func (n *Normalizer) AppendMetaID(dst, raw, id []byte) ([]byte, Meta, error) {
	st := n.states.Get().(*state)
	defer n.states.Put(st)
	if n.elastic {
		return n.appendElastic(dst, raw, id, st)
	}
	st.reset()

	var recErr error
	dst = append(dst, `{"message":`...)
	if err := st.parse(raw); err != nil {
		recErr = &RecordError{Reason: err.Error()}
		st.vals = [numFields][]byte{}
		st.vals[fErrorMessage] = appendQuotedString(nil, err.Error())
		dst = appendQuoted(dst, raw)
	} else {
		n.apply(st)
		// The scanner read all of raw: it is valid UTF-8.
		dst = appendQuotedUTF8(dst, raw)
	}
	st.vals[fObserverVendor] = litDuo
	st.vals[fObserverProduct] = litDuoSecurity
	dst = appendFields(dst, &st.vals)
	var meta Meta
	if recErr == nil {
		meta = st.meta()
	}
	return append(dst, '}'), meta, recErr
}

// meta reads the record's id and time from what parse kept.
func (st *state) meta() Meta {
	r := &st.rec
	var m Meta
	var id jsonscan.Value
	m.Unidentified = true
	if r.eventtype.Kind == jsonscan.String {
		switch string(r.eventtype.Content()) {
		case "admin_log", "offline_log":
			m.Unidentified = false
		case "auth_log":
			id, m.Unidentified = r.txid, false
		case "telephony_log":
			id, m.Unidentified = r.telephonyID, false
		case "activity_log":
			id, m.Unidentified = r.activityID, false
		case "trust_monitor_event":
			id, m.Unidentified = r.sekey, false
			if ms, ok := unixMillis(r.surfacedTimestamp); ok {
				m.Time = time.UnixMilli(ms)
			}
		}
	}
	if id.Kind == jsonscan.String && len(id.Raw) > 2 {
		m.ID = id.Text(nil)
	}
	if !m.Time.IsZero() {
		return m
	}
	for _, v := range []jsonscan.Value{r.isotimestamp, r.ts} {
		if v.Kind == jsonscan.String && !v.Esc {
			if t, ok := parseTimestamp(v.Content()); ok {
				m.Time = t
				return m
			}
		}
	}
	if r.timestamp.Kind == jsonscan.Number {
		if n, err := strconv.ParseInt(string(r.timestamp.Raw), 10, 64); err == nil && n > 0 {
			m.Time = time.Unix(n, 0)
		}
	}
	return m
}

// AppendMalformed appends the document of a record that was not read as
// JSON at all (it was too long, say): raw (what was kept of it) in message,
// and reason in error.message, as Append does for a malformed record.
func (n *Normalizer) AppendMalformed(dst, raw []byte, reason string) []byte {
	var vals [numFields][]byte
	vals[fErrorMessage] = appendQuotedString(nil, reason)
	vals[fObserverVendor] = litDuo
	vals[fObserverProduct] = litDuoSecurity
	dst = append(dst, `{"message":`...)
	dst = appendQuoted(dst, raw)
	dst = appendFields(dst, &vals)
	return append(dst, '}')
}

// Pre-encoded constant values.
var (
	litDuo            = []byte(`"Duo"`)
	litDuoSecurity    = []byte(`"Duo Security"`)
	litAuthentication = []byte(`["authentication"]`)
	litIAM            = []byte(`["iam"]`)
	litInfo           = []byte(`["info"]`)
	litStart          = []byte(`["start"]`)
	litAdmin          = []byte(`["admin"]`)
	litSuccess        = []byte(`"success"`)
	litFailure        = []byte(`"failure"`)
	litAuthLog        = []byte(`"auth_log"`)
	litAdminLog       = []byte(`"admin_log"`)
	litOfflineLog     = []byte(`"offline_log"`)
	litTelephonyLog   = []byte(`"telephony_log"`)
)

// record holds the source values the mappings read, as scanned.
type record struct {
	eventtype, host, isotimestamp, result, email               jsonscan.Value
	action, username, object, description, context, typ, phone jsonscan.Value

	// access_device
	browser, browserVersion, ip, hostname, os, osVersion jsonscan.Value
	city, country, state                                 jsonscan.Value

	// user
	userKey, userName, userGroups jsonscan.Value

	// read for Meta only
	txid, telephonyID, ts, timestamp jsonscan.Value

	// activity_log and trust_monitor_event: kept whole, read in apply
	activityID, sekey, triageURI, tmState, priorityEvent, surfacedTimestamp jsonscan.Value
	actor, target, outcome, application, explanations                       jsonscan.Value
	surfacedAuth, enabledBy, enabledFor                                     jsonscan.Value
}

// description holds the keys read from an admin or offline description.
type description struct {
	ipAddress, errorText, email, device, userAgent, hostname jsonscan.Value
}

// state is the per-call scratch space, pooled.
type state struct {
	el   elastic // the elastic mapping's
	sc   jsonscan.Scanner
	rec  record
	desc description
	vals [numFields][]byte
	buf  []byte // decoded description, timestamps and related.* lists
}

func (st *state) reset() {
	st.rec = record{}
	st.desc = description{}
	st.vals = [numFields][]byte{}
	st.buf = st.buf[:0]
}

// notObject is nil when s is at an object, else why the record is not
// one.
func notObject(s *jsonscan.Scanner) error {
	switch s.Peek() {
	case '{':
		return nil
	case 0:
		return errors.New("empty record")
	}
	v, err := s.Value()
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("record is a JSON %s, not an object", v.Kind)
}

// parse scans raw as one JSON object, keeping the members the mappings read.
func (st *state) parse(raw []byte) error {
	s := &st.sc
	s.Reset(raw)
	r := &st.rec
	if err := notObject(s); err != nil {
		return err
	}
	err := s.Members(func(key []byte, esc bool) error {
		var dst *jsonscan.Value
		switch string(jsonscan.Key(key, esc)) {
		case "eventtype":
			dst = &r.eventtype
		case "host":
			dst = &r.host
		case "isotimestamp":
			dst = &r.isotimestamp
		case "result":
			dst = &r.result
		case "email":
			dst = &r.email
		case "action":
			dst = &r.action
		case "username":
			dst = &r.username
		case "object":
			dst = &r.object
		case "description":
			dst = &r.description
		case "context":
			dst = &r.context
		case "type":
			dst = &r.typ
		case "phone":
			dst = &r.phone
		case "txid":
			dst = &r.txid
		case "telephony_id":
			dst = &r.telephonyID
		case "ts":
			dst = &r.ts
		case "timestamp":
			dst = &r.timestamp
		case "activity_id":
			dst = &r.activityID
		case "sekey":
			dst = &r.sekey
		case "triage_event_uri":
			dst = &r.triageURI
		case "state":
			dst = &r.tmState
		case "priority_event":
			dst = &r.priorityEvent
		case "surfaced_timestamp":
			dst = &r.surfacedTimestamp
		case "actor":
			dst = &r.actor
		case "target":
			dst = &r.target
		case "outcome":
			dst = &r.outcome
		case "application":
			dst = &r.application
		case "explanations":
			dst = &r.explanations
		case "surfaced_auth":
			dst = &r.surfacedAuth
		case "enabled_by":
			dst = &r.enabledBy
		case "enabled_for":
			dst = &r.enabledFor
		case "access_device":
			return st.parseAccessDevice()
		case "user":
			return st.parseUser()
		}
		v, err := s.Value()
		if dst != nil {
			*dst = v
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.End()
}

// parseAccessDevice reads access_device; a later duplicate key replaces
// every child, as it replaces the whole object.
func (st *state) parseAccessDevice() error {
	s := &st.sc
	r := &st.rec
	r.browser, r.browserVersion, r.ip, r.hostname, r.os, r.osVersion = jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}
	r.city, r.country, r.state = jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}
	if s.Peek() != '{' {
		return s.Into(nil)
	}
	return s.Members(func(key []byte, esc bool) error {
		var dst *jsonscan.Value
		switch string(jsonscan.Key(key, esc)) {
		case "browser":
			dst = &r.browser
		case "browser_version":
			dst = &r.browserVersion
		case "ip":
			dst = &r.ip
		case "hostname":
			dst = &r.hostname
		case "os":
			dst = &r.os
		case "os_version":
			dst = &r.osVersion
		case "location":
			r.city, r.country, r.state = jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}
			if s.Peek() == '{' {
				return s.Members(func(key []byte, esc bool) error {
					var dst *jsonscan.Value
					switch string(jsonscan.Key(key, esc)) {
					case "city":
						dst = &r.city
					case "country":
						dst = &r.country
					case "state":
						dst = &r.state
					}
					return s.Into(dst)
				})
			}
		}
		return s.Into(dst)
	})
}

func (st *state) parseUser() error {
	s := &st.sc
	r := &st.rec
	r.userKey, r.userName, r.userGroups = jsonscan.Value{}, jsonscan.Value{}, jsonscan.Value{}
	if s.Peek() != '{' {
		return s.Into(nil)
	}
	return s.Members(func(key []byte, esc bool) error {
		var dst *jsonscan.Value
		switch string(jsonscan.Key(key, esc)) {
		case "key":
			dst = &r.userKey
		case "name":
			dst = &r.userName
		case "groups":
			dst = &r.userGroups
		}
		return s.Into(dst)
	})
}

// parseDescription decodes the description string and reads its keys. A
// description that is not a JSON object has no keys.
func (st *state) parseDescription() {
	v := st.rec.description
	if v.Kind != jsonscan.String || !v.Present() {
		return
	}
	start := len(st.buf)
	st.buf = jsonscan.Unquote(st.buf, v)
	text := st.buf[start:]
	var s jsonscan.Scanner
	s.Reset(text)
	if s.Peek() != '{' {
		return
	}
	var d description
	err := s.Members(func(key []byte, esc bool) error {
		var dst *jsonscan.Value
		switch string(jsonscan.Key(key, esc)) {
		case "ip_address":
			dst = &d.ipAddress
		case "error":
			dst = &d.errorText
		case "email":
			dst = &d.email
		case "device":
			dst = &d.device
		case "user_agent":
			dst = &d.userAgent
		case "hostname":
			dst = &d.hostname
		}
		return s.Into(dst)
	})
	if err == nil && s.End() == nil {
		st.desc = d
	}
}

// set stores v as field f when the rules count it as present.
//
// Every field set this way is a string: a value of another JSON type (an
// object where Duo sends a string) is unusable, and left out as a missing
// one is, so that no field ever has another type than the mapping says.
// user.roles, the one list copied whole, is set with setList.
func (st *state) set(f field, v jsonscan.Value) {
	if v.Kind == jsonscan.String && v.Present() {
		st.vals[f] = v.Raw
	}
}

// setList is set for a list of strings copied whole (user.roles): a list
// holding anything but strings is left out, as is any other value.
func (st *state) setList(f field, v jsonscan.Value) {
	if v.Kind != jsonscan.Array || !v.Present() {
		return
	}
	var s jsonscan.Scanner
	s.Reset(v.Raw)
	strings := true
	s.Elements(func() error {
		e, err := s.Value()
		strings = strings && err == nil && e.Kind == jsonscan.String
		return err
	})
	if strings {
		st.vals[f] = v.Raw
	}
}

// apply runs the mapping's rules on the parsed record.
func (n *Normalizer) apply(st *state) {
	r := &st.rec
	st.setTimestamp(r.isotimestamp)
	extension := jsonscan.Equal(r.eventtype, "activity_log") || jsonscan.Equal(r.eventtype, "trust_monitor_event")
	if n.v2 && !extension && r.result.Kind != jsonscan.None && r.result.Kind != jsonscan.Null {
		if jsonscan.Equal(r.result, "success") {
			st.vals[fEventOutcome] = litSuccess
		} else {
			st.vals[fEventOutcome] = litFailure
		}
	}

	switch {
	case jsonscan.Equal(r.eventtype, "auth_log"):
		n.applyAuth(st)
	case jsonscan.Equal(r.eventtype, "admin_log"):
		n.applyAdmin(st)
	case jsonscan.Equal(r.eventtype, "offline_log"):
		n.applyOffline(st)
	case jsonscan.Equal(r.eventtype, "activity_log"):
		n.applyActivity(st)
	case jsonscan.Equal(r.eventtype, "trust_monitor_event"):
		n.applyTrustMonitor(st)
	case jsonscan.Equal(r.eventtype, "telephony_log"):
		st.vals[fEventCategory] = litAuthentication
		st.vals[fEventType] = litInfo
		st.vals[fEventDataset] = litTelephonyLog
		st.set(fEventReason, r.context)
		st.set(fDuoTelephonyType, r.typ)
		st.set(fDuoPhoneNumber, r.phone)
	}

	if ip := st.vals[fSourceIP]; ip != nil {
		st.vals[fSourceAddress] = ip
		st.vals[fRelatedIP] = st.list(ip)
	}
	if u, target := st.vals[fUserName], st.vals[fUserTargetName]; u != nil || target != nil {
		switch {
		case u == nil:
			st.vals[fRelatedUser] = st.list(target)
		case target == nil || bytes.Equal(u, target):
			st.vals[fRelatedUser] = st.list(u)
		default:
			st.vals[fRelatedUser] = st.list(u, target)
		}
	}
	if h := st.vals[fObserverHostname]; h != nil {
		st.vals[fRelatedHosts] = st.list(h)
	}
}

// list encodes a one-element JSON list holding the encoded value v.
func (st *state) list(vs ...[]byte) []byte {
	start := len(st.buf)
	st.buf = append(st.buf, '[')
	for i, v := range vs {
		if i > 0 {
			st.buf = append(st.buf, ',')
		}
		st.buf = append(st.buf, v...)
	}
	st.buf = append(st.buf, ']')
	return st.buf[start:]
}

// setTimestamp sets @timestamp from an RFC 3339 string value (step 1).
func (st *state) setTimestamp(v jsonscan.Value) {
	if v.Kind != jsonscan.String {
		return
	}
	start := len(st.buf)
	st.buf = append(st.buf, '"')
	var scratch [40]byte
	if b, ok := appendTimestamp(st.buf, v.Text(scratch[:0])); ok {
		st.buf = append(b, '"')
		st.vals[fTimestamp] = st.buf[start:]
	} else {
		st.buf = st.buf[:start]
	}
}

func (n *Normalizer) applyAuth(st *state) {
	r := &st.rec
	st.vals[fEventCategory] = litAuthentication
	st.vals[fEventType] = litInfo
	st.vals[fEventDataset] = litAuthLog
	if n.v2 {
		st.vals[fEventType] = litStart
		st.set(fObserverHostname, r.host)
		st.set(fUserName, r.userName)
	}
	st.set(fUserEmail, r.email)
	st.set(fUserID, r.userKey)
	st.setList(fUserRoles, r.userGroups)
	st.set(fSourceIP, r.ip)
	st.set(fHostName, r.hostname)
	st.setDevice(r)
}

func (n *Normalizer) applyAdmin(st *state) {
	r := &st.rec
	st.vals[fEventCategory] = litIAM
	st.vals[fEventType] = litAdmin
	st.vals[fEventDataset] = litAdminLog
	st.set(fEventAction, r.action)
	st.set(fUserName, r.username)
	st.set(fDuoObject, r.object)
	if !n.v2 {
		return
	}
	switch {
	case jsonscan.Equal(r.action, "admin_login"):
		st.vals[fEventCategory] = litAuthentication
		st.vals[fEventType] = litStart
		st.vals[fEventOutcome] = litSuccess
	case jsonscan.Equal(r.action, "admin_login_error"):
		st.vals[fEventCategory] = litAuthentication
		st.vals[fEventType] = litStart
		st.vals[fEventOutcome] = litFailure
	}
	st.parseDescription()
	d := &st.desc
	st.set(fEventReason, d.errorText)
	st.set(fSourceIP, d.ipAddress)
	st.set(fUserEmail, d.email)
	st.set(fDuoPhoneNumber, d.device)
	st.set(fObserverHostname, r.host)
}

func (n *Normalizer) applyOffline(st *state) {
	r := &st.rec
	st.vals[fEventCategory] = litAuthentication
	st.vals[fEventType] = litInfo
	st.vals[fEventDataset] = litOfflineLog
	st.set(fEventAction, r.action)
	st.set(fDuoObject, r.object)
	st.set(fUserName, r.username)
	st.parseDescription()
	d := &st.desc
	st.set(fHostName, d.hostname)
	if ua := d.userAgent; ua.Present() {
		st.vals[fUAOriginal] = ua.Raw
		if ua.Kind == jsonscan.String {
			f := n.ua.lookup(ua.Text(nil))
			st.vals[fUAName] = f.name
			st.vals[fUAVersion] = f.version
			st.vals[fUADeviceName] = f.device
			st.vals[fUAOSName] = f.osName
			st.vals[fUAOSVersion] = f.osVersion
		}
	}
}
