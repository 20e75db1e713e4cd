package normalize

import (
	"bytes"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/duo-connector/duo-connector/normalize/geoip"
	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// The elastic mapping (MAPPING.md, "Mapping elastic"): the field names,
// types and meaning of Elastic's Cisco Duo integration. One scan of the
// record streams every member under cisco_duo.<dataset> (renamed, split
// or converted where Elastic's fields say so, left out where it is mapped
// to an ECS field instead) and keeps the values the ECS fields are made
// from; the ECS fields are then set from them (see elasticdoc.go).

// litECSVersion is the ECS version Elastic's integration declares.
var litECSVersion = []byte(`"8.11.0"`)

// dataset is what the elastic mapping does with one log's records.
type dataset struct {
	name         string // cisco_duo.<name>
	eventDataset []byte // "cisco_duo.<name>", the JSON string
	// rule says what becomes of the record's member at path (dotted):
	// to, when set, is where it goes instead (a path from the dataset's
	// object for a member of the record's top level; for a member of an
	// object, its parent's path: the member replaces its parent).
	rule func(path []byte) (what rule, to string)
	// ecs sets the ECS fields from the values kept, and adds to the body
	// what Elastic derives under cisco_duo.
	ecs func(x *elastic)
}

// rule is what becomes of one member of a record.
type rule uint8

const (
	keep      rule = iota // under cisco_duo.<dataset> at its path (objects member by member)
	drop                  // left out (the connector's marks, the times @timestamp is made of)
	mapped                // an ECS field's value: left out when the field takes it, else kept
	rename                // under cisco_duo.<dataset> at another path
	ipPort                // an address that may carry a port: split into path.ip and path.port
	asString              // booleans as "true"/"false" (Elastic's keyword fields)
	agents                // kept only when a non-empty list of objects
	details               // a string holding JSON is kept parsed
	described             // admin and offline's description: see descriptions
)

// elastic is the state of one record's elastic document.
type elastic struct {
	ds  *dataset
	ecs ecsDoc
	buf []byte // backing for values made here (not slices of the record)
	// body is cisco_duo.<dataset>'s members as written, after bodyPad
	// bytes; levels are its objects open, names the hashes of their
	// members' names; dup: a name was written twice in one object.
	body   []byte
	levels []level
	names  []uint32
	dup    bool
	tree   edoc // the body rebuilt when dup
	// vals are the record's values the ECS fields are made from, by
	// their index in ecsFields. None: -1 (never set).
	vals    [numECSFields]jsonscan.Value
	path    []byte
	vals2   [][]byte // scratch: a list's values
	sc      jsonscan.Scanner
	sub     jsonscan.Scanner // a description's or details' object (object)
	scratch []byte
	texts   []byte          // backing for strings decoded for the record
	splits  [2]splitAddress // the auth record's addresses (split)
	iso     []byte          // the record's isotimestamp, written as @timestamp is (nil: none, or unreadable)
	// descJSON: the description was a JSON object (kept parsed); desc
	// are members of it the ECS fields are made from (cleaned).
	descJSON bool
	desc     [numDescFields][]byte
	descNew  [numDescFields][]byte // desc of a description being read
	// replace is the cleaned value of a member that replaces the object
	// it is in (activity's outcome.result), or nil.
	replace []byte
	// geo looks addresses up (nil: no GeoIP); located caches the last
	// address looked up and its answers (JSON objects, nil when none).
	geo     *geoip.DB
	located struct {
		ip      []byte
		geo, as []byte
	}
}

// The description's members the ECS fields are made from.
const (
	descErrors = iota
	descStatus
	descEmail
	descRealname
	descHostname
	numDescFields
)

func descField(key []byte) int {
	switch string(key) {
	case "Errors":
		return descErrors
	case "status":
		return descStatus
	case "email":
		return descEmail
	case "realname":
		return descRealname
	case "hostname":
		return descHostname
	}
	return -1
}

// kept is the record's value at path (the path in the record, before any
// renaming), or None.
func (x *elastic) kept(path string) jsonscan.Value {
	if i := ecsField([]byte(path)); i >= 0 {
		return x.vals[i]
	}
	return jsonscan.Value{}
}

// text is a string value's text (nil when not a non-empty string).
func (x *elastic) text(path string) []byte {
	v := x.kept(path)
	if v.Kind != jsonscan.String || len(v.Raw) <= 2 {
		return nil
	}
	return v.Text(nil)
}

// raw is a value's JSON text when it is one an ECS field of type keyword,
// long or boolean takes: a string (not ""), a number or a boolean. An
// object or a list Duo sends where a value belongs stays under cisco_duo
// only.
func (x *elastic) raw(path string) []byte {
	v := x.kept(path)
	switch v.Kind {
	case jsonscan.String:
		if len(v.Raw) > 2 {
			return v.Raw
		}
	case jsonscan.Number:
		if !fitsFloat(v.Raw) {
			return x.lit([]byte{'"'}, v.Raw, []byte{'"'})
		}
		return v.Raw
	case jsonscan.Bool:
		return v.Raw
	}
	return nil
}

// strings is a list value's strings (not ""), or a single string, as a
// JSON list; nil when there are none.
func (x *elastic) strings(path string) []byte {
	v := x.kept(path)
	if v.Kind == jsonscan.String && len(v.Raw) > 2 {
		return x.list(v.Raw) // one, not in a list
	}
	if v.Kind != jsonscan.Array {
		return nil
	}
	var s jsonscan.Scanner
	s.Reset(v.Raw)
	vals := x.vals2[:0]
	s.Elements(func() error {
		e, err := s.Value()
		if e.Kind == jsonscan.String && len(e.Raw) > 2 {
			vals = append(vals, e.Raw)
		}
		return err
	})
	x.vals2 = vals[:0]
	return x.list(vals...)
}

// str stores s as a JSON string in buf and returns it.
func (x *elastic) str(s []byte) []byte {
	start := len(x.buf)
	x.buf = appendQuoted(x.buf, s)
	return x.buf[start:len(x.buf):len(x.buf)]
}

// time stores t as a JSON string, written as @timestamp is.
func (x *elastic) time(t time.Time) []byte {
	start := len(x.buf)
	x.buf = append(x.buf, '"')
	x.buf = appendTime(x.buf, t)
	x.buf = append(x.buf, '"')
	return x.buf[start:len(x.buf):len(x.buf)]
}

// lit stores raw JSON text in buf and returns it.
func (x *elastic) lit(parts ...[]byte) []byte {
	start := len(x.buf)
	for _, p := range parts {
		x.buf = append(x.buf, p...)
	}
	return x.buf[start:len(x.buf):len(x.buf)]
}

// list stores a JSON list of the distinct non-nil values.
func (x *elastic) list(vals ...[]byte) []byte {
	start := len(x.buf)
	x.buf = append(x.buf, '[')
	n := 0
	for i, v := range vals {
		if v == nil {
			continue
		}
		dup := false
		for _, w := range vals[:i] {
			dup = dup || bytes.Equal(v, w)
		}
		if dup {
			continue
		}
		if n > 0 {
			x.buf = append(x.buf, ',')
		}
		x.buf = append(x.buf, v...)
		n++
	}
	if n == 0 {
		x.buf = x.buf[:start]
		return nil
	}
	x.buf = append(x.buf, ']')
	return x.buf[start:len(x.buf):len(x.buf)]
}

// The datasets, by the eventtype the connector marks records with
// (datasetOf); telephony_v2 is told apart by its members.
var (
	dsAuth         = newDataset("auth", authRule, authECS)
	dsAdmin        = newDataset("admin", adminRule, adminECS)
	dsOffline      = newDataset("offline_enrollment", offlineRule, offlineECS)
	dsTelephony    = newDataset("telephony", telephonyRule, telephonyECS)
	dsTelephonyV2  = newDataset("telephony_v2", telephonyRule, telephonyECS)
	dsActivity     = newDataset("activity", activityRule, activityECS)
	dsTrustMonitor = newDataset("trust_monitor", trustMonitorRule, trustMonitorECS)
	dsUnidentified = newDataset("unidentified", unidentifiedRule, func(*elastic) {})
)

func newDataset(name string, rule func([]byte) (rule, string), ecs func(*elastic)) *dataset {
	return &dataset{name: name, eventDataset: []byte(`"cisco_duo.` + name + `"`), rule: rule, ecs: ecs}
}

func authECS(x *elastic) {
	e := &x.ecs
	e.set(sEventCategory, litAuthentication)
	e.set(sEventType, litInfo)
	e.set(sEventOutcome, litFailure)
	if r := x.text("result"); r != nil && strings.EqualFold(string(r), "success") {
		e.set(sEventOutcome, litSuccess)
	}
	e.set(sEventReason, x.raw("reason"))
	ip, port := x.address("access_device.ip")
	// source.address is the access device's name: Duo sends the string
	// "null" for a hostname it does not know.
	host := x.raw("access_device.hostname")
	if jsonscan.Equal(x.kept("access_device.hostname"), "null") {
		host = nil
	}
	e.set(sSourceAddress, host)
	e.set(sSourceIP, ip)
	e.set(sSourcePort, port)
	e.set(sSourceUserGroupName, x.strings("user.groups"))
	for _, f := range [...]struct {
		from string
		to   ecsSlot
	}{{"email", sSourceUserEmail}, {"user.key", sSourceUserID}, {"user.name", sSourceUserName},
		{"email", sUserEmail}, {"user.name", sUserName}, {"user.key", sUserID},
		{"access_device.browser", sUserAgentName}, {"access_device.browser_version", sUserAgentVersion},
		{"access_device.os", sUserAgentOSName}, {"access_device.os_version", sUserAgentOSVersion}} {
		e.set(f.to, x.raw(f.from))
	}
	authIP, _ := x.address("auth_device.ip")
	geo, as := x.locate(unquoteIP(ip))
	e.set(sSourceGeo, geo)
	e.set(sSourceAS, as)
	// Elastic keeps the auth record's isotimestamp (a date field): the
	// time, written as @timestamp is, when it can be read.
	if x.iso != nil {
		x.value([]byte("isotimestamp"), x.iso)
	}
	e.set(sRelatedIP, x.list(ip, authIP))
	e.set(sRelatedUser, x.list(e.get(sSourceUserName)))
	e.set(sRelatedHosts, x.list(host))
}

// deviceAddress is the address of the device object at path (from its
// member holding it), when Elastic locates that device's address there
// too (cisco_duo.<dataset>.<device>.geo and .as); ok is false for any
// other object.
func (x *elastic) deviceAddress(path []byte) (ip []byte, ok bool) {
	switch x.ds.name {
	case "auth":
		switch string(path) {
		case "access_device":
			ip, _ = x.address("access_device.ip")
			return unquoteIP(ip), true
		case "auth_device":
			ip, _ = x.address("auth_device.ip")
			return unquoteIP(ip), true
		}
	case "activity":
		if string(path) == "access_device" {
			return x.activityIP(), true
		}
	}
	return nil, false
}

// activityIP is the activity record's access device address, when it is
// one.
func (x *elastic) activityIP() []byte {
	ip := x.text("access_device.ip.address")
	if ip == nil {
		return nil
	}
	if _, err := parseIP(string(ip)); err != nil {
		return nil
	}
	return ip
}

// locate is the GeoIP database's answers for the address ip, as the
// objects Elasticsearch's geoip processor writes with its default
// properties (geo: city_name, continent_name, country_iso_code,
// country_name, region_iso_code, region_name, location; as: number,
// organization.name); nil when none.
func (x *elastic) locate(ip []byte) (geo, as []byte) {
	if x.geo == nil || ip == nil {
		return nil, nil
	}
	if x.located.ip != nil && bytes.Equal(x.located.ip, ip) {
		return x.located.geo, x.located.as
	}
	addr, err := parseIP(string(ip))
	if err != nil {
		return nil, nil
	}
	x.located.ip = append(x.located.ip[:0], ip...)
	x.located.geo, x.located.as = nil, nil
	if loc, ok := x.geo.City(addr); ok {
		start := len(x.buf)
		x.buf = append(x.buf, '{')
		for _, f := range [...]struct {
			name string
			val  string
		}{{"city_name", loc.CityName}, {"continent_name", loc.ContinentName}, {"country_iso_code", loc.CountryISOCode},
			{"country_name", loc.CountryName}, {"region_iso_code", loc.RegionISOCode}, {"region_name", loc.RegionName}} {
			if f.val != "" {
				x.buf = appendMember(x.buf, start, f.name)
				x.buf = appendQuoted(x.buf, []byte(f.val))
			}
		}
		if loc.HasPoint {
			x.buf = appendMember(x.buf, start, "location")
			x.buf = append(x.buf, `{"lat":`...)
			x.buf = strconv.AppendFloat(x.buf, loc.Lat, 'f', -1, 64)
			x.buf = append(x.buf, `,"lon":`...)
			x.buf = strconv.AppendFloat(x.buf, loc.Lon, 'f', -1, 64)
			x.buf = append(x.buf, '}')
		}
		if len(x.buf) > start+1 {
			x.buf = append(x.buf, '}')
			x.located.geo = x.buf[start:len(x.buf):len(x.buf)]
		} else {
			x.buf = x.buf[:start]
		}
	}
	if a, ok := x.geo.ASN(addr); ok {
		start := len(x.buf)
		x.buf = append(x.buf, '{')
		if a.Number != 0 {
			x.buf = appendMember(x.buf, start, "number")
			x.buf = strconv.AppendUint(x.buf, uint64(a.Number), 10)
		}
		if a.Organization != "" {
			x.buf = appendMember(x.buf, start, "organization")
			x.buf = append(x.buf, `{"name":`...)
			x.buf = appendQuoted(x.buf, []byte(a.Organization))
			x.buf = append(x.buf, '}')
		}
		if len(x.buf) > start+1 {
			x.buf = append(x.buf, '}')
			x.located.as = x.buf[start:len(x.buf):len(x.buf)]
		} else {
			x.buf = x.buf[:start]
		}
	}
	return x.located.geo, x.located.as
}

// appendMember appends the head of a member of the object begun at start.
func appendMember(dst []byte, start int, name string) []byte {
	if len(dst) > start+1 {
		dst = append(dst, ',')
	}
	return append(append(append(dst, '"'), name...), '"', ':')
}

// address is the IP address (a JSON string) and port (a JSON number) of
// the record's value at path, when it is an address, else nils.
func (x *elastic) address(path string) (ip, port []byte) {
	ip, port, _ = x.split(path, x.kept(path))
	return ip, port
}

// split is the IP address (a JSON string) and port (a JSON number, nil
// when none) of v, the record's value at path; ok is false when it is not
// an address. The auth record's two addresses are split once each.
func (x *elastic) split(path string, v jsonscan.Value) (ip, port []byte, ok bool) {
	if v.Kind != jsonscan.String || len(v.Raw) <= 2 {
		return nil, nil, false
	}
	var c *splitAddress
	switch path {
	case "access_device.ip":
		c = &x.splits[0]
	case "auth_device.ip":
		c = &x.splits[1]
	}
	if c != nil && len(c.raw) == len(v.Raw) && &c.raw[0] == &v.Raw[0] {
		return c.ip, c.port, c.ok
	}
	a, p, ok := splitHostPort(string(v.Text(x.scratch[:0])))
	if ok {
		ip = x.str([]byte(a))
		if p != "" {
			port = x.lit([]byte(p))
		}
	}
	if c != nil {
		*c = splitAddress{raw: v.Raw, ip: ip, port: port, ok: ok}
	}
	return ip, port, ok
}

// splitAddress is an address split (elastic.split).
type splitAddress struct {
	raw      []byte // the value split
	ip, port []byte
	ok       bool
}

func adminECS(x *elastic) {
	e := &x.ecs
	action := x.text("action")
	e.set(sEventOutcome, litSuccess)
	c, ok := adminClasses[string(action)]
	if !ok {
		c = classifyAdmin(x, string(action))
	}
	if c.fail {
		e.set(sEventOutcome, litFailure)
	}
	if c.iam {
		e.set(sEventCategory, litIAM)
	}
	e.set(sEventType, c.types)
	e.set(sEventAction, x.raw("action"))
	if v := x.raw("username"); v != nil {
		e.set(sUserName, v)
		e.set(sRelatedUser, x.list(v))
	}
	e.set(sUserTargetName, x.raw("object"))
	switch {
	case !x.descJSON:
		// Free text (not JSON): the reason, as Elastic's message.
		if v := x.raw("description"); v != nil {
			e.set(sMessage, v)
			e.set(sEventReason, v)
		}
	default:
		if v := x.desc[descErrors]; v != nil {
			x.value([]byte("errors"), v)
		}
		if v := x.desc[descStatus]; v != nil {
			x.value([]byte("status"), v)
		}
		if string(action) == "admin_self_activate" {
			if v := x.desc[descEmail]; isString(v) {
				e.set(sUserEmail, v)
			}
		}
		if string(action) == "user_update" {
			if v := x.desc[descRealname]; isString(v) {
				e.set(sUserChangesName, v)
			}
			if v := x.desc[descEmail]; isString(v) {
				e.set(sUserChangesEmail, v)
			}
		}
	}
}

func offlineECS(x *elastic) {
	e := &x.ecs
	if v := x.raw("username"); v != nil {
		e.set(sUserName, v)
		e.set(sRelatedUser, x.list(v))
	}
	e.set(sEventAction, x.raw("action"))
	e.set(sRelatedHosts, x.list(x.desc[descHostname]))
}

func telephonyECS(x *elastic) {}

func activityECS(x *elastic) {
	e := &x.ecs
	// action is an object with a name, or (seen in some accounts) the
	// name itself.
	if v := x.raw("action.name"); v != nil {
		e.set(sEventAction, v)
	} else if a := x.kept("action"); a.Kind == jsonscan.String && a.Present() {
		e.set(sEventAction, a.Raw)
	}
	switch r := strings.ToUpper(string(x.text("outcome.result"))); r {
	case "SUCCESS":
		e.set(sEventOutcome, litSuccess)
	case "FAILURE":
		e.set(sEventOutcome, litFailure)
	}
	if ip := x.activityIP(); ip != nil {
		e.set(sSourceIP, x.raw("access_device.ip.address"))
		geo, as := x.locate(ip)
		e.set(sSourceGeo, geo)
		e.set(sSourceAS, as)
	}
	if jsonscan.Equal(x.kept("actor.type"), "user") {
		e.set(sUserName, x.raw("actor.name"))
	}
	for _, f := range [...]struct {
		from string
		to   ecsSlot
	}{{"access_device.browser", sUserAgentName}, {"access_device.browser_version", sUserAgentVersion},
		{"access_device.os", sUserAgentOSName}, {"access_device.os_version", sUserAgentOSVersion}} {
		e.set(f.to, x.raw(f.from))
	}
	e.set(sRelatedUser, x.list(e.get(sUserName)))
	e.set(sRelatedIP, x.list(e.get(sSourceIP)))
}

func trustMonitorECS(x *elastic) {
	e := &x.ecs
	u := x.text("triage_event_uri")
	if u == nil {
		return
	}
	p, err := url.Parse(string(u))
	if err != nil || p.Scheme == "" {
		return
	}
	e.set(sURLOriginal, x.str(u))
	e.set(sURLScheme, x.str([]byte(p.Scheme)))
	if h := p.Hostname(); h != "" {
		e.set(sURLDomain, x.str([]byte(h)))
	}
	if port, ok := portOf(p.Port()); ok {
		e.set(sURLPort, x.lit([]byte(port)))
	}
	if p.Path != "" {
		e.set(sURLPath, x.str([]byte(p.Path)))
		if i := strings.LastIndexByte(p.Path, '.'); i > strings.LastIndexByte(p.Path, '/') && i < len(p.Path)-1 {
			e.set(sURLExtension, x.str([]byte(p.Path[i+1:])))
		}
	}
	if p.RawQuery != "" {
		e.set(sURLQuery, x.str([]byte(p.RawQuery)))
	}
	if p.Fragment != "" {
		e.set(sURLFragment, x.str([]byte(p.Fragment)))
	}
}

// appendElastic appends the elastic document of raw; id, when set, is the
// event id to give when the record has none of its own (a v1 record's
// hash).
func (n *Normalizer) appendElastic(dst, raw, id []byte, st *state) ([]byte, Meta, error) {
	x := &st.el
	x.geo = n.geo
	x.sc.Reset(raw)
	if err := notObject(&x.sc); err != nil {
		return x.failed(dst, raw, err)
	}
	// One scan streams every member under cisco_duo.<dataset> and keeps
	// the values the ECS fields are made from. The dataset is guessed
	// first from the eventtype member the connector appends last, and
	// checked after: a record whose eventtype was elsewhere is walked
	// again.
	ds := datasetOf(guessEventType(raw))
	for range 2 {
		x.reset(ds)
		x.sc.Reset(raw)
		x.sc.Peek() // past leading space, to the '{' notObject found
		if err := x.walk(&x.sc); err != nil {
			return x.failed(dst, raw, err)
		}
		if err := x.sc.End(); err != nil {
			return x.failed(dst, raw, err)
		}
		real := datasetOf(x.text("eventtype"))
		if real == ds {
			break
		}
		ds = real
	}
	if ds.name == "telephony" && (x.kept("telephony_id").Present() || x.kept("ts").Present()) && !x.kept("timestamp").Present() {
		ds = dsTelephonyV2
	}
	x.ds = ds
	e := &x.ecs
	e.set(sECSVersion, litECSVersion)
	e.set(sEventKind, elEvent)
	e.original = raw
	e.set(sEventDataset, ds.eventDataset)
	e.set(sObserverHostname, x.raw("host"))
	e.set(sObserverVendor, litDuo)
	e.set(sObserverProduct, litDuoSecurity)
	meta := x.timestamp()
	ds.ecs(x)
	meta.Unidentified = ds.name == "unidentified"
	switch {
	case ds.name == "auth":
		meta.ID = x.text("txid")
	case ds.name == "telephony_v2":
		meta.ID = x.text("telephony_id")
	case ds.name == "activity":
		meta.ID = x.text("activity_id")
	case ds.name == "trust_monitor":
		meta.ID = x.text("sekey")
	}
	switch {
	case meta.ID != nil:
		e.set(sEventID, x.str(meta.ID))
	case id != nil:
		e.set(sEventID, x.str(id))
	}
	e.set(sCiscoDuo, x.finishBody(ds.name))
	return e.appendTo(dst), meta, nil
}

// reset readies x for a record of dataset ds.
func (x *elastic) reset(ds *dataset) {
	x.ds = ds
	x.ecs.reset()
	x.buf = x.buf[:0]
	x.texts = x.texts[:0]
	x.body = append(x.body[:0], make([]byte, bodyPad)...)
	x.body[bodyPad-1] = '{'
	x.levels = append(x.levels[:0], level{})
	x.names = x.names[:0]
	x.dup = false
	x.descJSON = false
	x.desc = [numDescFields][]byte{}
	x.replace = nil
	x.splits = [2]splitAddress{}
	x.located.ip = x.located.ip[:0]
	x.located.geo, x.located.as = nil, nil
	clear(x.vals[:])
	x.path = x.path[:0]
}

// failed appends the document of a record that is not a JSON object:
// Elastic's pipeline_error, with the reason.
func (x *elastic) failed(dst, raw []byte, err error) ([]byte, Meta, error) {
	x.reset(dsUnidentified)
	e := &x.ecs
	e.set(sECSVersion, litECSVersion)
	e.set(sEventKind, []byte(`"pipeline_error"`))
	e.set(sEventOriginal, x.str(raw))
	e.set(sErrorMessage, x.str([]byte(err.Error())))
	e.set(sObserverVendor, litDuo)
	e.set(sObserverProduct, litDuoSecurity)
	return e.appendTo(dst), Meta{}, &RecordError{Reason: err.Error()}
}

// guessEventType reads the value of the "eventtype" member the connector
// appends last (or, in a record given to the normalize command, the first
// one), without scanning; nil when there is none.
func guessEventType(raw []byte) []byte {
	const name = `"eventtype"`
	if r := trimSpace(raw); len(r) > 0 && r[0] == '{' {
		if v, ok := eventTypeAt(trimSpace(r[1:])); ok { // first, as in the reference document
			return v
		}
	}
	tail := raw[max(len(raw)-160, 0):]
	if i := lastMember(tail, name); i >= 0 {
		if v, ok := eventTypeAt(tail[i:]); ok {
			return v
		}
	}
	if i := bytes.Index(raw, []byte(name)); i >= 0 {
		if v, ok := eventTypeAt(raw[i:]); ok {
			return v
		}
	}
	return nil
}

// eventTypeAt reads "eventtype": "value" at the start of b (JSON
// whitespace allowed around the colon).
func eventTypeAt(b []byte) ([]byte, bool) {
	const name = `"eventtype"`
	if !bytes.HasPrefix(b, []byte(name)) {
		return nil, false
	}
	b = trimSpace(b[len(name):])
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	b = trimSpace(b[1:])
	if len(b) == 0 || b[0] != '"' {
		return nil, false
	}
	j := bytes.IndexByte(b[1:], '"')
	if j < 0 {
		return nil, false
	}
	return b[1 : 1+j], true
}

// trimSpace is b without the JSON whitespace it begins with.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

// lastMember is the index of the last m (beginning with a quote) in b, or
// -1: quote by quote from the end, cheaper than bytes.LastIndex's
// Rabin-Karp on these short tails.
func lastMember(b []byte, m string) int {
	for end := len(b); ; {
		i := bytes.LastIndexByte(b[:end], '"')
		if i < 0 {
			return -1
		}
		if len(b)-i >= len(m) && string(b[i:i+len(m)]) == m {
			return i
		}
		end = i
	}
}

// timestamp sets @timestamp: isotimestamp (or ts), to the microsecond,
// else timestamp (seconds), else surfaced_timestamp (ms); and returns the
// record's Meta time.
func (x *elastic) timestamp() Meta {
	var m Meta
	x.iso = nil
	for _, f := range []string{"isotimestamp", "ts"} {
		if v := x.kept(f); v.Kind == jsonscan.String {
			if t, ok := parseTimestamp(v.Text(x.scratch[:0])); ok {
				m.Time = t
				x.ecs.set(sTimestamp, x.time(t))
				if f == "isotimestamp" {
					x.iso = x.ecs.get(sTimestamp)
				}
				return m
			}
		}
	}
	if v := x.kept("timestamp"); v.Kind == jsonscan.Number {
		if n, err := strconv.ParseInt(string(v.Raw), 10, 64); err == nil && n > 0 {
			m.Time = time.Unix(n, 0).UTC()
		}
	}
	if m.Time.IsZero() {
		if ms, ok := unixMillis(x.kept("surfaced_timestamp")); ok {
			m.Time = time.UnixMilli(ms).UTC()
		}
	}
	if !m.Time.IsZero() {
		x.ecs.set(sTimestamp, x.time(m.Time))
	}
	return m
}

// walk streams every member of the object s is at, as the dataset's
// rules say, into the body's current object.
func (x *elastic) walk(s *jsonscan.Scanner) error {
	return s.Members(func(key []byte, esc bool) error {
		if esc {
			key = jsonscan.Key(key, esc)
		}
		if badName(key) {
			_, err := s.Value()
			return err
		}
		n := len(x.path)
		if n > 0 {
			x.path = append(x.path, '.')
		}
		x.path = append(x.path, key...)
		err := x.walkMember(s, key, esc)
		x.path = x.path[:n]
		return err
	})
}

// walkMember streams the member key, at x.path, as its rule says.
func (x *elastic) walkMember(s *jsonscan.Scanner, key []byte, esc bool) error {
	what, to := x.ds.rule(x.path)
	if what == keep && to == "" {
		switch c := s.Peek(); {
		case c == '{' && walkInto(x.path):
			return x.walkObject(s, key, esc)
		case (c == '{' || c == '[') && ecsField(x.path) < 0:
			// Kept whole: cleaned as it is read.
			at := x.head(key, esc)
			var ok bool
			var err error
			if x.body, ok, err = appendCleanFrom(x.body, s); !ok {
				x.undo(at)
			}
			return err
		}
	}
	v, err := s.Value()
	if err != nil {
		return err
	}
	if i := ecsField(x.path); i >= 0 {
		x.vals[i] = v
	}
	if (what != keep && what != drop) && v.Kind == jsonscan.Object && len(x.path) < 256 {
		// Also the values inside, for the ECS fields (activity's
		// access_device.ip.address, action.name).
		x.keepInside(v.Raw)
	}
	if what == keep && to == "" {
		x.keepValue(key, esc, v)
		return nil
	}
	x.member(key, esc, what, to, v)
	return nil
}

// walkObject streams the object member key, member by member; at its
// close, the device's location is added (see deviceAddress), and a
// member that replaces it (x.replace) does.
func (x *elastic) walkObject(s *jsonscan.Scanner, key []byte, esc bool) error {
	at := x.head(key, esc)
	x.open(at)
	outer := x.replace
	x.replace = nil
	err := x.walk(s)
	if x.geo != nil {
		if ip, ok := x.deviceAddress(x.path); ok {
			geo, as := x.locate(ip)
			if geo != nil {
				x.value([]byte("geo"), geo)
			}
			if as != nil {
				x.value([]byte("as"), as)
			}
		}
	}
	if r := x.replace; r != nil {
		// Replaced by a member of its own: the value in its place.
		x.discard()
		x.head(key, esc)
		x.body = append(x.body, r...)
	} else {
		x.close()
	}
	x.replace = outer
	return err
}

// member writes one member's value, as its rule says.
func (x *elastic) member(key []byte, esc bool, what rule, to string, v jsonscan.Value) {
	switch what {
	case drop:
		return
	case mapped:
		// What an ECS field took; what it could not take (an object where
		// a name belongs) stays here.
		if v.Kind == jsonscan.String || v.Kind == jsonscan.Number || v.Kind == jsonscan.Bool ||
			v.Kind == jsonscan.Array && string(x.path) == "user.groups" {
			return
		}
	case rename:
		c := x.clean(v)
		if c == nil {
			return
		}
		if len(x.levels) > 1 { // to is the parent's path: the member replaces it
			x.replace = c
			return
		}
		x.valueAt([]byte(to), false, c)
		return
	case ipPort:
		if v.Kind != jsonscan.String || !v.Present() {
			return
		}
		ip, port, ok := x.split(string(x.path), v)
		if !ok {
			break // not an address: kept as it is
		}
		x.head(key, esc)
		x.body = append(x.body, ip...)
		if port != nil {
			x.scratch = append(append(x.scratch[:0], bytes.TrimSuffix(key, []byte("ip"))...), "port"...)
			x.head(x.scratch, esc)
			x.body = append(x.body, port...)
		}
		return
	case asString:
		if v.Kind == jsonscan.Bool {
			x.head(key, esc)
			x.body = append(append(append(x.body, '"'), v.Raw...), '"')
			return
		}
	case agents:
		if v.Kind != jsonscan.Array || !bytes.HasPrefix(bytes.TrimLeft(v.Raw[1:], " \t\r\n"), []byte{'{'}) {
			return
		}
	case details, described:
		if v.Kind == jsonscan.String && v.Present() {
			// Decoded where it stays for the record: x.desc keeps parts.
			start := len(x.texts)
			x.texts = jsonscan.Unquote(x.texts, v)
			text := x.texts[start:len(x.texts):len(x.texts)]
			name, nesc := key, esc
			if what == described && x.ds.name == "admin" {
				name, nesc = []byte("flattened"), false
			}
			if x.object(name, nesc, text, what == described) {
				x.descJSON = x.descJSON || what == described
				return
			}
			if what == described && x.ds.name == "admin" {
				return // free text: the admin record's message and event.reason
			}
		}
	}
	x.keepValue(key, esc, v)
}

// object writes the member name whose value is obj, the text of a string
// holding a JSON object, member by member (cleaned; a name with dots is a
// path); when described, the members the ECS fields are made from are
// kept (x.desc). It reports false, having written nothing, when obj is
// not one JSON object.
func (x *elastic) object(name []byte, esc bool, obj []byte, described bool) bool {
	s := &x.sub // not a local: the callback's use would move it to the heap
	s.Reset(obj)
	if s.Peek() != '{' {
		return false
	}
	x.open(x.head(name, esc))
	x.descNew = [numDescFields][]byte{}
	err := s.Members(func(key []byte, kesc bool) error {
		key = jsonscan.Key(key, kesc)
		var c []byte
		if p := s.Peek(); p == '{' || p == '[' {
			start := len(x.buf)
			var ok bool
			var err error
			if x.buf, ok, err = appendCleanFrom(x.buf, s); err != nil {
				return err
			}
			if ok {
				c = x.buf[start:len(x.buf):len(x.buf)]
			}
		} else {
			v, err := s.Value()
			if err != nil {
				return err
			}
			c = x.clean(v)
		}
		if c == nil || badName(key) {
			return nil
		}
		if described {
			if i := descField(key); i >= 0 {
				x.descNew[i] = c
			}
		}
		x.valueAt(key, true, c)
		return nil
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		x.discard()
		return false
	}
	x.close()
	if described {
		x.desc = x.descNew
	}
	return true
}

// common members: the connector's marks and the record's times.
func commonRule(path []byte) (rule, string, bool) {
	switch string(path) {
	case "eventtype", "host", "timestamp", "isotimestamp", "ts":
		return drop, "", true
	}
	return keep, "", false
}

func unidentifiedRule(path []byte) (rule, string) {
	r, to, _ := commonRule(path)
	return r, to
}

func authRule(path []byte) (rule, string) {
	if r, to, ok := commonRule(path); ok {
		return r, to
	}
	switch string(path) {
	case "user.key", "user.name", "user.groups",
		"access_device.browser", "access_device.browser_version", "access_device.os", "access_device.os_version":
		return mapped, ""
	case "access_device.ip", "auth_device.ip":
		return ipPort, ""
	case "access_device.is_encryption_enabled", "access_device.is_firewall_enabled", "access_device.is_password_set":
		return asString, ""
	case "access_device.security_agents":
		return agents, ""
	}
	return keep, ""
}

func adminRule(path []byte) (rule, string) {
	if r, to, ok := commonRule(path); ok {
		return r, to
	}
	switch string(path) {
	case "username":
		return rename, "user.name"
	case "object":
		return rename, "action_performed_on"
	case "description":
		return described, ""
	}
	return keep, ""
}

// Elastic's classification of admin actions.
var (
	adminIAM  = words("admin_2fa_error admin_account_switch admin_activation_create admin_activation_delete admin_activate_duo_push admin_create admin_delete admin_factor_restrictions_update admin_login admin_login_error admin_reactivates_duo_push admin_reset_password admin_self_activate admin_send_reset_password_email admin_update adminapi_request_ip_denied bypass_create bypass_delete bypass_view phone_associate phone_create phone_delete phone_disassociate phone_update group_create group_delete group_update user_bulk_activate user_bulk_enroll user_create user_delete user_import user_pending_delete user_restore user_update")
	adminFail = words("ad_sync_failed admin_2fa_error admin_login_error azure_sync_fail openldap_sync_failed")
	adminType = [...]struct {
		typ     []byte
		actions map[string]bool
	}{
		{elAdmin, words("activation_create_link activation_delete_link activation_send_link admin_2fa_error admin_account_switch admin_activation_create admin_activation_delete admin_activate_duo_push admin_create admin_delete admin_factor_restrictions_update admin_login admin_login_error admin_reactivates_duo_push admin_reset_password admin_self_activate admin_send_reset_password_email admin_update adminapi_request_ip_denied")},
		{elGroup, words("group_create group_delete group_update integration_group_policy_add integration_group_policy_remove policy_create policy_delete policy_update")},
		{elUser, words("ad_sync_by_user_begin ad_sync_by_user_finish azure_sync_by_user_begin azure_sync_by_user_finish bypass_create bypass_delete bypass_view openldap_sync_begin openldap_sync_by_user_begin phone_associate phone_create phone_delete phone_disassociate phone_update user_bulk_activate user_bulk_enroll user_create user_delete user_import user_pending_delete user_restore user_update")},
		{elInfo, words("ad_sync_begin ad_sync_failed ad_sync_finish azure_directory_create azure_directory_update azure_directory_delete azure_sync_begin azure_sync_finish azure_sync_fail create_child_customer credits_update customer_update delete_child_customer directory_create directory_delete directory_groups_update directory_sync_pause directory_sync_resume directory_update edition_update feature_add feature_delete hardtoken_create hardtoken_delete hardtoken_resync hardtoken_update integration_create integration_delete integration_policy_assign integration_policy_unassign integration_skey_view integration_update openldap_sync_by_user_finish openldap_sync_config_download openldap_sync_failed openldap_sync_finish regen_mobile regen_sms resend_enroll_codes send_enroll_code")},
	}
	elAdmin    = []byte(`"admin"`)
	elGroup    = []byte(`"group"`)
	elUser     = []byte(`"user"`)
	elInfo     = []byte(`"info"`)
	elEvent    = []byte(`"event"`)
	elCreation = []byte(`"creation"`)
	elChange   = []byte(`"change"`)
	elDeletion = []byte(`"deletion"`)
)

// adminClass is Elastic's classification of one admin action: its
// event.type list, whether it is iam (event.category) and a failure
// (event.outcome).
type adminClass struct {
	types     []byte
	iam, fail bool
}

// adminClasses are the classifications of the actions Elastic names, made
// once.
var adminClasses = func() map[string]adminClass {
	m := map[string]adminClass{}
	for a := range adminIAM {
		m[a] = classifyAdmin(&elastic{}, a)
	}
	for a := range adminFail {
		m[a] = classifyAdmin(&elastic{}, a)
	}
	for _, t := range adminType {
		for a := range t.actions {
			m[a] = classifyAdmin(&elastic{}, a)
		}
	}
	return m
}()

// classifyAdmin classifies an admin action (its list made in x's buf).
func classifyAdmin(x *elastic, action string) adminClass {
	var typeBuf [len(adminType) + 3][]byte
	types := typeBuf[:0]
	for _, t := range adminType {
		if t.actions[action] {
			types = append(types, t.typ)
		}
	}
	for _, t := range [...]struct {
		word string
		typ  []byte
	}{{"create", elCreation}, {"update", elChange}, {"delete", elDeletion}} {
		if strings.Contains(action, t.word) {
			types = append(types, t.typ)
		}
	}
	return adminClass{types: x.list(types...), iam: adminIAM[action], fail: adminFail[action]}
}

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func offlineRule(path []byte) (rule, string) {
	if r, to, ok := commonRule(path); ok {
		return r, to
	}
	switch string(path) {
	case "username":
		return rename, "user.name"
	case "description":
		return described, ""
	}
	return keep, ""
}

func telephonyRule(path []byte) (rule, string) {
	if r, to, ok := commonRule(path); ok {
		return r, to
	}
	switch string(path) {
	case "context":
		return rename, "event_type"
	case "phone":
		return rename, "phone_number"
	case "telephony_id":
		return rename, "id"
	}
	return keep, ""
}

func activityRule(path []byte) (rule, string) {
	if r, to, ok := commonRule(path); ok {
		return r, to
	}
	switch string(path) {
	case "activity_id":
		return rename, "id"
	case "outcome.result":
		return rename, "outcome"
	case "actor.details", "target.details", "old_target.details":
		return details, ""
	}
	return keep, ""
}

func trustMonitorRule(path []byte) (rule, string) {
	if r, to, ok := commonRule(path); ok {
		return r, to
	}
	if string(path) == "surfaced_timestamp" {
		return drop, ""
	}
	return keep, ""
}

// ecsFields are the record values any dataset's ECS fields are made
// from, kept as the record is walked.
var ecsFields = strings.Fields("result reason email user.key user.name user.groups access_device.ip access_device.hostname access_device.browser access_device.browser_version access_device.os access_device.os_version auth_device.ip action action.name username object description outcome.result access_device.ip.address actor.type actor.name triage_event_uri txid telephony_id activity_id sekey isotimestamp timestamp ts surfaced_timestamp eventtype host")

// numECSFields is len(ecsFields) (checked by a test).
const numECSFields = 33

// ecsField is the index of path in ecsFields, or -1 (a switch: the
// compiler's binary search beats a map here; TestECSFieldsCount checks
// it against the list).
func ecsField(path []byte) int {
	switch string(path) {
	case "result":
		return 0
	case "reason":
		return 1
	case "email":
		return 2
	case "user.key":
		return 3
	case "user.name":
		return 4
	case "user.groups":
		return 5
	case "access_device.ip":
		return 6
	case "access_device.hostname":
		return 7
	case "access_device.browser":
		return 8
	case "access_device.browser_version":
		return 9
	case "access_device.os":
		return 10
	case "access_device.os_version":
		return 11
	case "auth_device.ip":
		return 12
	case "action":
		return 13
	case "action.name":
		return 14
	case "username":
		return 15
	case "object":
		return 16
	case "description":
		return 17
	case "outcome.result":
		return 18
	case "access_device.ip.address":
		return 19
	case "actor.type":
		return 20
	case "actor.name":
		return 21
	case "triage_event_uri":
		return 22
	case "txid":
		return 23
	case "telephony_id":
		return 24
	case "activity_id":
		return 25
	case "sekey":
		return 26
	case "isotimestamp":
		return 27
	case "timestamp":
		return 28
	case "ts":
		return 29
	case "surfaced_timestamp":
		return 30
	case "eventtype":
		return 31
	case "host":
		return 32
	}
	return -1
}

// datasetOf is the dataset of an eventtype (unidentified when unknown).
func datasetOf(eventtype []byte) *dataset {
	switch string(eventtype) {
	case "auth_log":
		return dsAuth
	case "admin_log":
		return dsAdmin
	case "offline_log":
		return dsOffline
	case "telephony_log":
		return dsTelephony
	case "activity_log":
		return dsActivity
	case "trust_monitor_event":
		return dsTrustMonitor
	}
	return dsUnidentified
}

// walkInto reports an object with rules or ECS values inside: it is
// walked member by member; any other object is kept whole (cleaned), as
// one value.
func walkInto(path []byte) bool {
	switch string(path) {
	case "user", "access_device", "access_device.ip", "auth_device", "action", "outcome", "actor", "target", "old_target":
		return true
	}
	return false
}

// appendClean appends raw (a JSON value, already scanned) without null or
// "" values and the objects and lists that leave empty; false when the
// whole value goes.
func appendClean(dst, raw []byte) ([]byte, bool) {
	var s jsonscan.Scanner
	s.Reset(raw)
	dst, ok, _ := appendCleanFrom(dst, &s)
	return dst, ok
}

// appendCleanFrom is appendClean of the value s is at, read from s (not
// scanned twice); an error is s's.
func appendCleanFrom(dst []byte, s *jsonscan.Scanner) ([]byte, bool, error) {
	c := cleaner{dst: dst, s: s}
	start := len(dst)
	kept, err := c.put()
	if err != nil || !kept {
		return c.dst[:start], false, err
	}
	return c.dst, true, nil
}

// cleaner is appendClean's state: methods, not closures, so that nothing
// escapes to the heap.
type cleaner struct {
	s   *jsonscan.Scanner
	dst []byte
}

// put appends the next value, cleaned; false when nothing is left of it.
func (c *cleaner) put() (bool, error) {
	switch c.s.Peek() {
	case '{':
		mark, n := len(c.dst), 0
		c.dst = append(c.dst, '{')
		err := c.s.Members(func(key []byte, esc bool) error {
			if badName(jsonscan.Key(key, esc)) { // no index takes it
				_, err := c.s.Value()
				return err
			}
			at := len(c.dst)
			if n > 0 {
				c.dst = append(c.dst, ',')
			}
			c.dst = append(append(append(c.dst, '"'), key...), '"', ':')
			return c.item(at, &n)
		})
		return c.close(mark, n, '}', err)
	case '[':
		mark, n := len(c.dst), 0
		c.dst = append(c.dst, '[')
		err := c.s.Elements(func() error {
			at := len(c.dst)
			if n > 0 {
				c.dst = append(c.dst, ',')
			}
			return c.item(at, &n)
		})
		return c.close(mark, n, ']', err)
	}
	v, err := c.s.Value()
	if err != nil || v.Kind == jsonscan.Null || v.Kind == jsonscan.String && len(v.Raw) <= 2 {
		return false, err
	}
	c.dst = appendNumberSafe(c.dst, v)
	return true, nil
}

// item puts a member's or an element's value after its head (written
// from at); a value left empty takes its head back.
func (c *cleaner) item(at int, n *int) error {
	kept, err := c.put()
	if kept {
		*n++
	} else {
		c.dst = c.dst[:at]
	}
	return err
}

// close ends a container of n items begun at mark; an empty one is taken
// back.
func (c *cleaner) close(mark, n int, end byte, err error) (bool, error) {
	if n == 0 {
		c.dst = c.dst[:mark]
		return false, err
	}
	c.dst = append(c.dst, end)
	return true, err
}

// fitsFloat reports a JSON number an index can hold (a float64): 1E700
// cannot, and would have the whole document refused.
func fitsFloat(num []byte) bool {
	if len(num) <= 15 { // no exponent: well within a float64
		plain := true
		for _, c := range num {
			plain = plain && (c >= '0' && c <= '9' || c == '-' || c == '.')
		}
		if plain {
			return true
		}
	}
	_, err := strconv.ParseFloat(string(num), 64)
	return err == nil
}

// appendNumberSafe appends v, a number that does not fit a float64 as a
// string (its text kept).
func appendNumberSafe(dst []byte, v jsonscan.Value) []byte {
	if v.Kind == jsonscan.Number && !fitsFloat(v.Raw) {
		dst = append(dst, '"')
		dst = append(dst, v.Raw...)
		return append(dst, '"')
	}
	return append(dst, v.Raw...)
}

// isString reports a JSON string value.
func isString(v []byte) bool { return len(v) > 2 && v[0] == '"' }

// badName reports a member name no index takes (and this package's dotted
// paths cannot hold): empty, or with an empty part between dots. Such
// members are dropped.
func badName(key []byte) bool {
	if len(key) == 0 {
		return true
	}
	i := bytes.IndexByte(key, '.')
	return i >= 0 && (key[0] == '.' || key[len(key)-1] == '.' || bytes.Contains(key[i:], []byte("..")))
}

// parseIP parses an IP address an ip-typed field takes: no IPv6 zone.
func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && a.Zone() != "" {
		return netip.Addr{}, errors.New("an IPv6 zone")
	}
	return a, err
}

// splitHostPort splits an address as Duo sends it, with or without a port:
// 1.2.3.4, 1.2.3.4:1234, [v6]:1234, v6:1234 (all eight groups), and v6
// followed by " port ", "p", "#" or "." and the port. ok is false when s
// is not an IP address in any of these forms.
func splitHostPort(s string) (ip, port string, ok bool) {
	if _, err := parseIP(s); err == nil {
		return s, "", true
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if p, ok := portOf(s[i+1:]); ok {
			host := s[:i]
			if v4, err := parseIP(host); err == nil && v4.Is4() { // 1.2.3.4:1234
				return host, p, true
			}
			if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") { // [v6]:1234
				if a, err := parseIP(host[1 : len(host)-1]); err == nil && a.Is6() {
					return host[1 : len(host)-1], p, true
				}
			}
			// v6 with all eight groups written, then the port.
			if a, err := parseIP(host); err == nil && a.Is6() && strings.Count(host, ":") == 7 && !strings.Contains(host, "::") {
				return host, p, true
			}
		}
	}
	for _, sep := range []string{" port ", "p", "#", "."} {
		if i := strings.LastIndex(s, sep); i > 0 {
			if p, ok := portOf(s[i+len(sep):]); ok {
				if a, err := parseIP(s[:i]); err == nil && a.Is6() {
					return s[:i], p, true
				}
			}
		}
	}
	return "", "", false
}

// portOf reads a port (0 to 65535, decimal digits only) and writes it as
// a JSON number does (no leading zeros).
func portOf(s string) (string, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return "", false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return "", false
	}
	return strconv.Itoa(n), true
}

// unquoteIP is the text of an address address() made (a JSON string with
// nothing escaped), or nil.
func unquoteIP(ip []byte) []byte {
	if len(ip) < 2 {
		return nil
	}
	return ip[1 : len(ip)-1]
}

// keepInside keeps the ECS fields' values inside an object value at the
// current path.
func (x *elastic) keepInside(obj []byte) {
	var s jsonscan.Scanner
	s.Reset(obj)
	var visit func() error
	visit = func() error {
		return s.Members(func(key []byte, esc bool) error {
			n := len(x.path)
			x.path = append(append(x.path, '.'), jsonscan.Key(key, esc)...)
			defer func() { x.path = x.path[:n] }()
			if s.Peek() == '{' && len(x.path) < 256 {
				return visit()
			}
			v, err := s.Value()
			if i := ecsField(x.path); err == nil && i >= 0 {
				x.vals[i] = v
			}
			return err
		})
	}
	visit()
}

// clean is v's JSON text without null or "" values, nor the objects and
// lists that leave empty (Elastic drops them); nil when v itself goes.
func (x *elastic) clean(v jsonscan.Value) []byte {
	switch v.Kind {
	case jsonscan.None, jsonscan.Null:
		return nil
	case jsonscan.String:
		if len(v.Raw) <= 2 {
			return nil
		}
		return v.Raw
	case jsonscan.Number:
		if !fitsFloat(v.Raw) {
			return x.lit([]byte{'"'}, v.Raw, []byte{'"'})
		}
	case jsonscan.Object, jsonscan.Array:
		start := len(x.buf)
		var ok bool
		x.buf, ok = appendClean(x.buf, v.Raw)
		if !ok {
			x.buf = x.buf[:start]
			return nil
		}
		return x.buf[start:len(x.buf):len(x.buf)]
	}
	return v.Raw
}
