package normalize

import (
	"bytes"
	"strconv"
	"time"

	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// The activity log and Trust Monitor events: the same rules under both
// mappings, except observer.hostname, which v2 adds as for auth. Their
// nested members were kept whole by parse and are read here.

// Pre-encoded constants of the two logs.
var (
	litActivityLog       = []byte(`"activity_log"`)
	litTrustMonitorEvent = []byte(`"trust_monitor_event"`)
	litAlert             = []byte(`"alert"`)
)

// member names one member of an object to read, and where.
type member struct {
	key string
	dst *jsonscan.Value
}

// readMembers reads the named members of the object v (nothing when v is
// not an object). The record was checked whole by parse.
func (st *state) readMembers(v jsonscan.Value, ms ...member) {
	for _, m := range ms {
		*m.dst = jsonscan.Value{}
	}
	if v.Kind != jsonscan.Object {
		return
	}
	var s jsonscan.Scanner
	s.Reset(v.Raw)
	s.Members(func(key []byte, esc bool) error {
		k := jsonscan.Key(key, esc)
		for _, m := range ms {
			if string(k) == m.key {
				return s.Into(m.dst)
			}
		}
		return s.Into(nil)
	})
}

func (n *Normalizer) applyActivity(st *state) {
	r := &st.rec
	st.setTimestamp(r.ts)
	st.vals[fEventCategory] = litIAM
	st.vals[fEventType] = litInfo
	st.vals[fEventDataset] = litActivityLog
	st.set(fEventID, r.activityID)
	switch r.action.Kind {
	case jsonscan.String:
		st.set(fEventAction, r.action)
	case jsonscan.Object:
		var name jsonscan.Value
		st.readMembers(r.action, member{"name", &name})
		st.setString(fEventAction, name)
	}
	var result jsonscan.Value
	st.readMembers(r.outcome, member{"result", &result})
	if result.Kind == jsonscan.String {
		var scratch [16]byte
		switch string(bytes.ToLower(result.Text(scratch[:0]))) {
		case "success":
			st.vals[fEventOutcome] = litSuccess
		case "failure":
			st.vals[fEventOutcome] = litFailure
		}
	}
	var name, key, typ jsonscan.Value
	st.readMembers(r.actor, member{"name", &name}, member{"key", &key}, member{"type", &typ})
	st.setString(fDuoActorType, typ)
	if jsonscan.Equal(typ, "user") || jsonscan.Equal(typ, "admin") {
		st.setString(fUserName, name)
		st.setString(fUserID, key)
	}
	st.readMembers(r.target, member{"name", &name}, member{"key", &key}, member{"type", &typ})
	st.setString(fDuoTargetType, typ)
	st.setString(fDuoTargetName, name)
	if jsonscan.Equal(typ, "user") {
		st.setString(fUserTargetName, name)
		st.setString(fUserTargetID, key)
	}
	st.readMembers(r.application, member{"name", &name})
	st.setString(fDuoApplicationName, name)
	// access_device, as parse read it; ip as a string or as {address}.
	ip := r.ip
	if ip.Kind == jsonscan.Object {
		st.readMembers(ip, member{"address", &ip})
	}
	st.setString(fSourceIP, ip)
	st.setDevice(r)
	if n.v2 {
		st.setString(fObserverHostname, r.host)
	}
}

func (n *Normalizer) applyTrustMonitor(st *state) {
	r := &st.rec
	if ms, ok := unixMillis(r.surfacedTimestamp); ok {
		start := len(st.buf)
		st.buf = append(st.buf, '"')
		st.buf = append(appendTime(st.buf, time.UnixMilli(ms)), '"')
		st.vals[fTimestamp] = st.buf[start:]
	}
	st.vals[fEventKind] = litAlert
	if jsonscan.Equal(r.typ, "auth") {
		st.vals[fEventCategory] = litAuthentication
	} else {
		st.vals[fEventCategory] = litIAM
	}
	st.vals[fEventType] = litInfo
	st.vals[fEventDataset] = litTrustMonitorEvent
	st.set(fEventID, r.sekey)
	st.set(fEventAction, r.typ)
	st.set(fEventURL, r.triageURI)
	st.set(fDuoTMState, r.tmState)
	if r.priorityEvent.Kind == jsonscan.Bool {
		st.vals[fDuoTMPriorityEvent] = r.priorityEvent.Raw
	}
	st.applyExplanations(r.explanations)
	switch {
	case jsonscan.Equal(r.typ, "auth"):
		st.applySurfacedAuth(r.surfacedAuth)
	case jsonscan.Equal(r.typ, "bypass_status"):
		var name, key jsonscan.Value
		st.readMembers(r.enabledBy, member{"name", &name}, member{"key", &key})
		st.setString(fUserName, name)
		st.setString(fUserID, key)
		st.readMembers(r.enabledFor, member{"name", &name}, member{"key", &key})
		st.setString(fUserTargetName, name)
		st.setString(fUserTargetID, key)
	}
	if n.v2 {
		st.setString(fObserverHostname, r.host)
	}
}

// unixMillis reads a whole number of milliseconds.
func unixMillis(v jsonscan.Value) (int64, bool) {
	if v.Kind != jsonscan.Number {
		return 0, false
	}
	ms, err := strconv.ParseInt(string(v.Raw), 10, 64)
	return ms, err == nil
}

// applyExplanations sets event.reason from the first explanation's summary
// and the list of every explanation's type.
func (st *state) applyExplanations(v jsonscan.Value) {
	if v.Kind != jsonscan.Array {
		return
	}
	var s jsonscan.Scanner
	s.Reset(v.Raw)
	var types [][]byte
	first := true
	s.Elements(func() error {
		e, err := s.Value()
		if err != nil {
			return err
		}
		var typ, summary jsonscan.Value
		st.readMembers(e, member{"type", &typ}, member{"summary", &summary})
		if first {
			st.setString(fEventReason, summary)
			first = false
		}
		if typ.Kind == jsonscan.String && typ.Present() {
			types = append(types, typ.Raw)
		}
		return nil
	})
	if len(types) > 0 {
		st.vals[fDuoTMExplanations] = st.list(types...)
	}
}

// applySurfacedAuth maps an auth Trust Monitor event's authentication:
// its user, and its access device as auth_log does (host.name aside).
func (st *state) applySurfacedAuth(v jsonscan.Value) {
	if v.Kind != jsonscan.Object {
		return
	}
	s := &st.sc // parse is done with it
	s.Reset(v.Raw)
	s.Members(func(key []byte, esc bool) error {
		switch string(jsonscan.Key(key, esc)) {
		case "user":
			return st.parseUser()
		case "access_device":
			return st.parseAccessDevice()
		}
		return s.Into(nil)
	})
	r := &st.rec
	st.set(fUserName, r.userName)
	st.set(fUserID, r.userKey)
	st.setList(fUserRoles, r.userGroups)
	st.setString(fSourceIP, r.ip)
	st.setDevice(r)
}

// setDevice maps an access device's location, browser and OS, as auth_log
// does.
func (st *state) setDevice(r *record) {
	st.set(fSourceCity, r.city)
	st.set(fSourceCountry, r.country)
	st.set(fSourceRegion, r.state)
	st.set(fUAName, r.browser)
	st.set(fUAVersion, r.browserVersion)
	st.set(fHostOSName, r.os)
	st.set(fHostOSVersion, r.osVersion)
}

// setString is set: kept for the rules that say "a string" in so many
// words.
func (st *state) setString(f field, v jsonscan.Value) { st.set(f, v) }
