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
// types and meaning of Elastic's Cisco Duo integration. Its document is
// built as a small tree (edoc) from one scan of the record: every member
// of the record goes under cisco_duo.<dataset> (renamed, split or
// converted where Elastic's fields say so, left out where it is mapped to
// an ECS field instead), and the ECS fields are written from the values
// kept on the way.

// litECSVersion is the ECS version Elastic's integration declares.
var litECSVersion = []byte(`"8.11.0"`)

// enode is one member of the document being built: a JSON value, or an
// object whose members are kids.
type enode struct {
	key    []byte // in edoc.keys
	val    []byte // nil: an object
	kids   []int32
	parent int32 // -1: detached (its parent became a value)
}

// edoc is the document being built, members in the order first set.
type edoc struct {
	nodes []enode
	buf   []byte // backing for values made here (not slices of the record)
	keys  []byte // backing for member names
	path  []byte // scratch: a path being put
	// index finds a node by its parent and key: open addressing, the
	// node's index + 1 (0: empty); its length is a power of two, at least
	// twice the nodes.
	index []int32
}

func (d *edoc) reset() {
	for i := range d.nodes {
		d.nodes[i].kids = d.nodes[i].kids[:0]
	}
	d.nodes = d.nodes[:1]
	d.nodes[0] = enode{kids: d.nodes[0].kids[:0], parent: -1}
	d.buf = d.buf[:0]
	d.keys = d.keys[:0]
	if d.index == nil {
		d.index = make([]int32, 256)
	}
	clear(d.index)
}

// hashKey hashes the parent, the key's length and three of its bytes:
// enough to spread a document's few hundred keys (find compares the keys).
func hashKey[T []byte | string](parent int32, key T) uint32 {
	h := uint32(parent)*0x9E3779B1 ^ uint32(len(key))*0x85EBCA77
	if n := len(key); n > 0 {
		h ^= uint32(key[0]) | uint32(key[n/2])<<8 | uint32(key[n-1])<<16
	}
	h ^= h >> 15
	h *= 0x2C1B3C6D
	return h ^ h>>13
}

// find is the slot of parent's member key in the index: the slot holding
// it, or the empty slot where it goes.
func find[T []byte | string](d *edoc, parent int32, key T) int {
	mask := len(d.index) - 1
	for i := int(hashKey(parent, key)) & mask; ; i = (i + 1) & mask {
		n := d.index[i]
		if n == 0 {
			return i
		}
		if nd := &d.nodes[n-1]; nd.parent == parent && string(nd.key) == string(key) {
			return i
		}
	}
}

// child is the index of parent's member key, created (as an object) when
// missing.
func (d *edoc) child(parent int32, key []byte) int32 {
	slot := find(d, parent, key)
	if n := d.index[slot]; n != 0 {
		return n - 1
	}
	start := len(d.keys)
	d.keys = append(d.keys, key...)
	key = d.keys[start:len(d.keys):len(d.keys)]
	i := int32(len(d.nodes))
	if len(d.nodes) < cap(d.nodes) {
		d.nodes = d.nodes[:i+1]
		kids := d.nodes[i].kids[:0]
		d.nodes[i] = enode{key: key, kids: kids, parent: parent}
	} else {
		d.nodes = append(d.nodes, enode{key: key, parent: parent})
	}
	d.nodes[parent].kids = append(d.nodes[parent].kids, i)
	d.index[slot] = i + 1
	if 2*len(d.nodes) > len(d.index) {
		d.reindex(2 * len(d.index))
	}
	return i
}

// reindex rebuilds the index with size slots.
func (d *edoc) reindex(size int) {
	if size > len(d.index) {
		d.index = make([]int32, size)
	} else {
		clear(d.index)
	}
	for i := 1; i < len(d.nodes); i++ {
		if nd := &d.nodes[i]; nd.parent >= 0 {
			d.index[find(d, nd.parent, nd.key)] = int32(i) + 1
		}
	}
}

// setValue makes node at a value; the members it had are detached.
func (d *edoc) setValue(at int32, val []byte) {
	n := &d.nodes[at]
	for _, k := range n.kids {
		d.nodes[k].parent = -1
	}
	if len(n.kids) > 0 {
		n.kids = n.kids[:0]
		d.reindex(len(d.index))
	}
	n.val = val
}

// put sets the value at a dotted path (from the root).
func (d *edoc) put(path string, val []byte) {
	d.path = append(d.path[:0], path...)
	d.putPath(d.path, val)
}

// putAt sets the value at a dotted path under node at.
func (d *edoc) putAt(at int32, path []byte, val []byte) {
	for {
		key, rest, more := bytes.Cut(path, dot)
		at = d.child(at, key)
		if !more {
			d.setValue(at, val)
			return
		}
		path = rest
	}
}

// put2 is put of the path a + b, without making the string.
func (d *edoc) put2(a string, b []byte, val []byte) {
	d.path = append(append(d.path[:0], a...), b...)
	d.putPath(d.path, val)
}

// putPath sets the value at a dotted path.
func (d *edoc) putPath(path []byte, val []byte) { d.putAt(0, path, val) }

var dot = []byte{'.'}

// node is the node at a dotted path, created (as objects) when missing.
func (d *edoc) node(path string) int32 {
	at := int32(0)
	for {
		key, rest, more := strings.Cut(path, ".")
		d.path = append(d.path[:0], key...)
		at = d.child(at, d.path)
		if !more {
			return at
		}
		path = rest
	}
}

// get is the value set at a dotted path, or nil.
func (d *edoc) get(path string) []byte {
	if i := d.lookup(path); i >= 0 {
		return d.nodes[i].val
	}
	return nil
}

// lookup is the node at a dotted path, or -1.
func (d *edoc) lookup(path string) int32 {
	at := int32(0)
	for {
		key, rest, more := strings.Cut(path, ".")
		found := d.index[find(d, at, key)] - 1
		if found < 0 || !more {
			return found
		}
		at, path = found, rest
	}
}

// str stores s as a JSON string in buf and returns it.
func (d *edoc) str(s []byte) []byte {
	start := len(d.buf)
	d.buf = appendQuoted(d.buf, s)
	return d.buf[start:len(d.buf):len(d.buf)]
}

// time stores t as a JSON string, written as @timestamp is.
func (d *edoc) time(t time.Time) []byte {
	start := len(d.buf)
	d.buf = append(d.buf, '"')
	d.buf = appendTime(d.buf, t)
	d.buf = append(d.buf, '"')
	return d.buf[start:len(d.buf):len(d.buf)]
}

// lit stores raw JSON text in buf and returns it.
func (d *edoc) lit(parts ...[]byte) []byte {
	start := len(d.buf)
	for _, p := range parts {
		d.buf = append(d.buf, p...)
	}
	return d.buf[start:len(d.buf):len(d.buf)]
}

// list stores a JSON list of the distinct non-nil values.
func (d *edoc) list(vals ...[]byte) []byte {
	start := len(d.buf)
	d.buf = append(d.buf, '[')
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
			d.buf = append(d.buf, ',')
		}
		d.buf = append(d.buf, v...)
		n++
	}
	if n == 0 {
		d.buf = d.buf[:start]
		return nil
	}
	d.buf = append(d.buf, ']')
	return d.buf[start:len(d.buf):len(d.buf)]
}

// appendTo writes the document; objects left empty are left out.
func (d *edoc) appendTo(dst []byte) []byte {
	dst, _ = d.appendNode(dst, 0)
	return dst
}

// appendNode writes node i; an object with no value under it is written
// as {} and reported empty, so that its parent leaves it out.
func (d *edoc) appendNode(dst []byte, i int32) ([]byte, bool) {
	n := &d.nodes[i]
	if n.val != nil {
		return append(dst, n.val...), true
	}
	dst = append(dst, '{')
	wrote := false
	for _, k := range n.kids {
		mark := len(dst)
		if wrote {
			dst = append(dst, ',')
		}
		dst = appendQuoted(dst, d.nodes[k].key)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = d.appendNode(dst, k); !ok {
			dst = dst[:mark] // an empty object: left out
			continue
		}
		wrote = true
	}
	return append(dst, '}'), wrote
}

// dataset is what the elastic mapping does with one log's records.
type dataset struct {
	name string // cisco_duo.<name>
	base string // "cisco_duo.<name>."
	// rule says what becomes of the record's member at path (dotted):
	// to, when set, is where it goes instead.
	rule func(path []byte) (what rule, to string)
	// ecs writes the ECS fields from the values kept.
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
	d    edoc
	ds   *dataset
	base string // "cisco_duo.<dataset>."
	// vals are the record's values the ECS fields are made from, by
	// their index in ecsFields. None: -1 (never set).
	vals    [numECSFields]jsonscan.Value
	path    []byte
	vals2   [][]byte // scratch: a list's values
	sc      jsonscan.Scanner
	scratch []byte
	// descJSON: the description was a JSON object (kept parsed).
	descJSON bool
	// geo looks addresses up (nil: no GeoIP).
	geo *geoip.DB
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

// raw is a value's JSON text when it is present (not null, not "").
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
			return x.d.lit([]byte{'"'}, v.Raw, []byte{'"'})
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
		return x.d.list(v.Raw) // one, not in a list
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
	return x.d.list(vals...)
}

var datasets = map[string]*dataset{
	"auth_log":            {name: "auth", base: "cisco_duo.auth.", rule: authRule, ecs: authECS},
	"admin_log":           {name: "admin", base: "cisco_duo.admin.", rule: adminRule, ecs: adminECS},
	"offline_log":         {name: "offline_enrollment", base: "cisco_duo.offline_enrollment.", rule: offlineRule, ecs: offlineECS},
	"telephony_log":       {name: "telephony", base: "cisco_duo.telephony.", rule: telephonyRule, ecs: telephonyECS},
	"telephony_v2":        {name: "telephony_v2", base: "cisco_duo.telephony_v2.", rule: telephonyRule, ecs: telephonyECS},
	"activity_log":        {name: "activity", base: "cisco_duo.activity.", rule: activityRule, ecs: activityECS},
	"trust_monitor_event": {name: "trust_monitor", base: "cisco_duo.trust_monitor.", rule: trustMonitorRule, ecs: trustMonitorECS},
	"":                    {name: "unidentified", base: "cisco_duo.unidentified.", rule: unidentifiedRule, ecs: func(*elastic) {}},
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

func authECS(x *elastic) {
	d := &x.d
	d.put("event.category", litAuthentication)
	d.put("event.type", litInfo)
	d.put("event.outcome", litFailure)
	if r := x.text("result"); r != nil && strings.EqualFold(string(r), "success") {
		d.put("event.outcome", litSuccess)
	}
	if v := x.raw("reason"); v != nil {
		d.put("event.reason", v)
	}
	ip, port := x.address("access_device.ip")
	// source.address is the access device's name: Duo sends the string
	// "null" for a hostname it does not know.
	host := x.raw("access_device.hostname")
	if jsonscan.Equal(x.kept("access_device.hostname"), "null") {
		host = nil
	}
	if host != nil {
		d.put("source.address", host)
	}
	if ip != nil {
		d.put("source.ip", ip)
	}
	if port != nil {
		d.put("source.port", port)
	}
	if v := x.strings("user.groups"); v != nil {
		d.put("source.user.group.name", v)
	}
	for _, f := range [][2]string{{"email", "source.user.email"}, {"user.key", "source.user.id"}, {"user.name", "source.user.name"},
		{"email", "user.email"}, {"user.name", "user.name"}, {"user.key", "user.id"},
		{"access_device.browser", "user_agent.name"}, {"access_device.browser_version", "user_agent.version"},
		{"access_device.os", "user_agent.os.name"}, {"access_device.os_version", "user_agent.os.version"}} {
		if v := x.raw(f[0]); v != nil {
			d.put(f[1], v)
		}
	}
	authIP, _ := x.address("auth_device.ip")
	x.locate(unquoteIP(ip), "source", "cisco_duo.auth.access_device")
	x.locate(unquoteIP(authIP), "cisco_duo.auth.auth_device")
	// Elastic keeps the auth record's isotimestamp (a date field): the
	// time, written as @timestamp is, when it can be read.
	if v := x.kept("isotimestamp"); v.Kind == jsonscan.String {
		if t, ok := parseTimestamp(v.Text(x.scratch[:0])); ok {
			d.put("cisco_duo.auth.isotimestamp", d.time(t))
		}
	}
	d.put("related.ip", d.list(ip, authIP))
	d.put("related.user", d.list(d.get("source.user.name")))
	d.put("related.hosts", d.list(host))
}

// unquoteIP is the text of an address address() made (a JSON string with
// nothing escaped), or nil.
func unquoteIP(ip []byte) []byte {
	if len(ip) < 2 {
		return nil
	}
	return ip[1 : len(ip)-1]
}

// locate puts the GeoIP database's answers for the address ip under
// each of the prefixes: prefix.geo.* as Elasticsearch's geoip processor
// writes them with its default properties, and prefix.as.number and
// prefix.as.organization.name.
func (x *elastic) locate(ip []byte, prefixes ...string) {
	if x.geo == nil || ip == nil {
		return
	}
	addr, err := parseIP(string(ip))
	if err != nil {
		return
	}
	d := &x.d
	if loc, ok := x.geo.City(addr); ok {
		for _, p := range prefixes {
			for _, f := range [...]struct {
				name string
				val  string
			}{{"city_name", loc.CityName}, {"continent_name", loc.ContinentName}, {"country_iso_code", loc.CountryISOCode},
				{"country_name", loc.CountryName}, {"region_iso_code", loc.RegionISOCode}, {"region_name", loc.RegionName}} {
				if f.val != "" {
					d.put(p+".geo."+f.name, d.str([]byte(f.val)))
				}
			}
			if loc.HasPoint {
				d.put(p+".geo.location.lat", d.lit(strconv.AppendFloat(x.scratch[:0], loc.Lat, 'f', -1, 64)))
				d.put(p+".geo.location.lon", d.lit(strconv.AppendFloat(x.scratch[:0], loc.Lon, 'f', -1, 64)))
			}
		}
	}
	if as, ok := x.geo.ASN(addr); ok {
		for _, p := range prefixes {
			if as.Number != 0 {
				d.put(p+".as.number", d.lit(strconv.AppendUint(x.scratch[:0], uint64(as.Number), 10)))
			}
			if as.Organization != "" {
				d.put(p+".as.organization.name", d.str([]byte(as.Organization)))
			}
		}
	}
}

// address is the IP address (a JSON string) and port (a JSON number) of
// the record's value at path, when it is an address, else nils.
func (x *elastic) address(path string) (ip, port []byte) {
	t := x.text(path)
	if t == nil {
		return nil, nil
	}
	a, p, ok := splitHostPort(string(t))
	if !ok {
		return nil, nil
	}
	ip = x.d.str([]byte(a))
	if p != "" {
		port = x.d.lit([]byte(p))
	}
	return ip, port
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

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func adminECS(x *elastic) {
	d := &x.d
	action := x.text("action")
	d.put("event.outcome", litSuccess)
	if adminFail[string(action)] {
		d.put("event.outcome", litFailure)
	}
	if adminIAM[string(action)] {
		d.put("event.category", litIAM)
	}
	var typeBuf [len(adminType) + 3][]byte
	types := typeBuf[:0]
	for _, t := range adminType {
		if t.actions[string(action)] {
			types = append(types, t.typ)
		}
	}
	for _, t := range [...]struct {
		word string
		typ  []byte
	}{{"create", elCreation}, {"update", elChange}, {"delete", elDeletion}} {
		if strings.Contains(string(action), t.word) {
			types = append(types, t.typ)
		}
	}
	d.put("event.type", d.list(types...))
	if v := x.raw("action"); v != nil {
		d.put("event.action", v)
	}
	if v := x.raw("username"); v != nil {
		d.put("user.name", v)
		d.put("related.user", d.list(v))
	}
	if v := x.raw("object"); v != nil {
		d.put("user.target.name", v)
	}
	const flat = "cisco_duo.admin.flattened."
	switch {
	case !x.descJSON:
		// Free text (not JSON): the reason, as Elastic's message.
		if v := x.raw("description"); v != nil {
			d.put("message", v)
			d.put("event.reason", v)
		}
	default:
		if v := d.get(flat + "Errors"); v != nil {
			d.put("cisco_duo.admin.errors", v)
		}
		if v := d.get(flat + "status"); v != nil {
			d.put("cisco_duo.admin.status", v)
		}
		if string(action) == "admin_self_activate" {
			if v := d.get(flat + "email"); isString(v) {
				d.put("user.email", v)
			}
		}
		if string(action) == "user_update" {
			if v := d.get(flat + "realname"); isString(v) {
				d.put("user.changes.name", v)
			}
			if v := d.get(flat + "email"); isString(v) {
				d.put("user.changes.email", v)
			}
		}
	}
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

func offlineECS(x *elastic) {
	d := &x.d
	if v := x.raw("username"); v != nil {
		d.put("user.name", v)
		d.put("related.user", d.list(v))
	}
	if v := x.raw("action"); v != nil {
		d.put("event.action", v)
	}
	d.put("related.hosts", d.list(d.get("cisco_duo.offline_enrollment.description.hostname")))
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

func telephonyECS(x *elastic) {}

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

func activityECS(x *elastic) {
	d := &x.d
	// action is an object with a name, or (seen in some accounts) the
	// name itself.
	if v := x.raw("action.name"); v != nil {
		d.put("event.action", v)
	} else if a := x.kept("action"); a.Kind == jsonscan.String && a.Present() {
		d.put("event.action", a.Raw)
	}
	switch r := strings.ToUpper(string(x.text("outcome.result"))); r {
	case "SUCCESS":
		d.put("event.outcome", litSuccess)
	case "FAILURE":
		d.put("event.outcome", litFailure)
	}
	if ip := x.text("access_device.ip.address"); ip != nil {
		if _, err := parseIP(string(ip)); err == nil {
			d.put("source.ip", x.raw("access_device.ip.address"))
			x.locate(ip, "cisco_duo.activity.access_device", "source")
		}
	}
	if jsonscan.Equal(x.kept("actor.type"), "user") {
		if v := x.raw("actor.name"); v != nil {
			d.put("user.name", v)
		}
	}
	for _, f := range [][2]string{{"access_device.browser", "user_agent.name"}, {"access_device.browser_version", "user_agent.version"},
		{"access_device.os", "user_agent.os.name"}, {"access_device.os_version", "user_agent.os.version"}} {
		if v := x.raw(f[0]); v != nil {
			d.put(f[1], v)
		}
	}
	d.put("related.user", d.list(d.get("user.name")))
	d.put("related.ip", d.list(d.get("source.ip")))
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

func trustMonitorECS(x *elastic) {
	d := &x.d
	u := x.text("triage_event_uri")
	if u == nil {
		return
	}
	p, err := url.Parse(string(u))
	if err != nil || p.Scheme == "" {
		return
	}
	d.put("url.original", d.str(u))
	d.put("url.scheme", d.str([]byte(p.Scheme)))
	if h := p.Hostname(); h != "" {
		d.put("url.domain", d.str([]byte(h)))
	}
	if port, ok := portOf(p.Port()); ok {
		d.put("url.port", d.lit([]byte(port)))
	}
	if p.Path != "" {
		d.put("url.path", d.str([]byte(p.Path)))
		if i := strings.LastIndexByte(p.Path, '.'); i > strings.LastIndexByte(p.Path, '/') && i < len(p.Path)-1 {
			d.put("url.extension", d.str([]byte(p.Path[i+1:])))
		}
	}
	if p.RawQuery != "" {
		d.put("url.query", d.str([]byte(p.RawQuery)))
	}
	if p.Fragment != "" {
		d.put("url.fragment", d.str([]byte(p.Fragment)))
	}
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

// appendElastic appends the elastic document of raw; id, when set, is the
// event id to give when the record has none of its own (a v1 record's
// hash).
func (n *Normalizer) appendElastic(dst, raw, id []byte, st *state) ([]byte, Meta, error) {
	x := &st.el
	if x.d.nodes == nil {
		x.d.nodes = make([]enode, 1, 64)
	}
	x.descJSON = false
	x.geo = n.geo
	d := &x.d
	x.sc.Reset(raw)
	if err := notObject(&x.sc); err != nil {
		return x.failed(dst, raw, err)
	}
	// One scan puts every member under cisco_duo.<dataset> and keeps the
	// values the ECS fields are made from. The dataset is guessed first
	// from the eventtype member the connector appends last, and checked
	// after: a record whose eventtype was elsewhere is walked again.
	ds := datasetOf(guessEventType(raw))
	for range 2 {
		d.reset()
		d.put("ecs.version", litECSVersion)
		d.put("event.kind", elEvent)
		d.put("event.original", nil) // set below: its place among the fields
		x.ds, x.base = ds, ds.base
		clear(x.vals[:])
		x.path = x.path[:0]
		x.sc.Reset(raw)
		x.sc.Peek() // past leading space, to the '{' notObject found
		if err := x.walk(&x.sc, d.node(x.base[:len(x.base)-1])); err != nil {
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
		ds = datasets["telephony_v2"]
		d.rename("cisco_duo.telephony", "telephony_v2")
	}
	x.ds = ds
	// The scanner read all of raw: it is valid UTF-8.
	start := len(d.buf)
	d.buf = appendQuotedUTF8(d.buf, raw)
	d.put("event.original", d.buf[start:len(d.buf):len(d.buf)])
	d.put("event.dataset", d.str([]byte("cisco_duo."+ds.name)))
	if v := x.raw("host"); v != nil {
		d.put("observer.hostname", v)
	}
	d.put("observer.vendor", litDuo)
	d.put("observer.product", litDuoSecurity)
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
		d.put("event.id", d.str(meta.ID))
	case id != nil:
		d.put("event.id", d.str(id))
	}
	return d.appendTo(dst), meta, nil
}

// failed appends the document of a record that is not a JSON object:
// Elastic's pipeline_error, with the reason.
func (x *elastic) failed(dst, raw []byte, err error) ([]byte, Meta, error) {
	d := &x.d
	d.reset()
	d.put("ecs.version", litECSVersion)
	d.put("event.kind", []byte(`"pipeline_error"`))
	d.put("event.original", d.str(raw))
	d.put("error.message", d.str([]byte(err.Error())))
	d.put("observer.vendor", litDuo)
	d.put("observer.product", litDuoSecurity)
	return d.appendTo(dst), Meta{}, &RecordError{Reason: err.Error()}
}

// datasetOf is the dataset of an eventtype (unidentified when unknown).
func datasetOf(eventtype []byte) *dataset {
	if ds := datasets[string(eventtype)]; ds != nil && string(eventtype) != "telephony_v2" {
		return ds
	}
	return datasets[""]
}

// guessEventType reads the value of the last "eventtype" member in raw
// (the connector appends it), without scanning; nil when there is none.
func guessEventType(raw []byte) []byte {
	const member = `"eventtype":"`
	// The connector's mark is in the last hundred bytes; elsewhere (a
	// record given to the normalize command), the first will do.
	tail := raw[max(len(raw)-160, 0):]
	rest := []byte(nil)
	if i := bytes.LastIndex(tail, []byte(member)); i >= 0 {
		rest = tail[i+len(member):]
	} else if i := bytes.Index(raw, []byte(member)); i >= 0 {
		rest = raw[i+len(member):]
	} else {
		return nil
	}
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// rename renames the member at a dotted path.
func (d *edoc) rename(path, to string) {
	if i := d.lookup(path); i >= 0 {
		start := len(d.keys)
		d.keys = append(d.keys, to...)
		d.nodes[i].key = d.keys[start:len(d.keys):len(d.keys)]
		d.reindex(len(d.index))
	}
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

// timestamp puts @timestamp: isotimestamp (or ts), to the microsecond,
// else timestamp (seconds), else surfaced_timestamp (ms); and returns the
// record's Meta time.
func (x *elastic) timestamp() Meta {
	var m Meta
	for _, f := range []string{"isotimestamp", "ts"} {
		if v := x.kept(f); v.Kind == jsonscan.String {
			if t, ok := parseTimestamp(v.Text(x.scratch[:0])); ok {
				m.Time = t
				break
			}
		}
	}
	if m.Time.IsZero() {
		if v := x.kept("timestamp"); v.Kind == jsonscan.Number {
			if n, err := strconv.ParseInt(string(v.Raw), 10, 64); err == nil && n > 0 {
				m.Time = time.Unix(n, 0).UTC()
			}
		}
	}
	if m.Time.IsZero() {
		if ms, ok := unixMillis(x.kept("surfaced_timestamp")); ok {
			m.Time = time.UnixMilli(ms).UTC()
		}
	}
	if !m.Time.IsZero() {
		x.d.put("@timestamp", x.d.time(m.Time))
	}
	return m
}

// walk puts every member of the object s is at under cisco_duo.<dataset>,
// as the dataset's rules say.
// at is the document's node of the current path (cisco_duo.<dataset>.path).
func (x *elastic) walk(s *jsonscan.Scanner, at int32) error {
	return s.Members(func(key []byte, esc bool) error {
		key = jsonscan.Key(key, esc)
		if badName(key) {
			_, err := s.Value()
			return err
		}
		n := len(x.path)
		if n > 0 {
			x.path = append(x.path, '.')
		}
		x.path = append(x.path, key...)
		defer func() { x.path = x.path[:n] }()
		what, to := x.ds.rule(x.path)
		if what == keep && s.Peek() == '{' && walkInto(x.path) {
			return x.walk(s, x.d.child(at, key))
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
			if c := x.clean(v); c != nil {
				k := x.d.child(at, key)
				x.d.setValue(k, c)
			}
			return nil
		}
		x.member(x.path, what, to, v)
		return nil
	})
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

// member puts one member's value, as its rule says.
func (x *elastic) member(path []byte, what rule, toName string, v jsonscan.Value) {
	d := &x.d
	to := path
	if toName != "" {
		to = []byte(toName)
	}
	switch what {
	case drop:
		return
	case mapped:
		// What an ECS field took; what it could not take (an object where
		// a name belongs) stays here.
		if v.Kind == jsonscan.String || v.Kind == jsonscan.Number || v.Kind == jsonscan.Bool ||
			v.Kind == jsonscan.Array && string(path) == "user.groups" {
			return
		}
	case ipPort:
		if v.Kind != jsonscan.String || !v.Present() {
			return
		}
		ip, port, ok := splitHostPort(string(v.Text(nil)))
		if !ok {
			d.put2(x.base, to, x.clean(v)) // not an address: kept as it is
			return
		}
		d.put2(x.base, to, d.str([]byte(ip)))
		if port != "" {
			x.scratch = append(append(x.scratch[:0], bytes.TrimSuffix(to, []byte("ip"))...), "port"...)
			d.put2(x.base, x.scratch, d.lit([]byte(port)))
		}
		return
	case asString:
		if v.Kind == jsonscan.Bool {
			d.put2(x.base, to, d.lit([]byte{'"'}, v.Raw, []byte{'"'}))
			return
		}
	case agents:
		if v.Kind != jsonscan.Array || !bytes.HasPrefix(bytes.TrimLeft(v.Raw[1:], " \t\r\n"), []byte{'{'}) {
			return
		}
	case details, described:
		if v.Kind == jsonscan.String && v.Present() {
			text := v.Text(nil)
			var sub jsonscan.Scanner
			sub.Reset(text)
			if sub.Peek() == '{' {
				if _, err := sub.Value(); err == nil && sub.End() == nil {
					target := to
					if what == described {
						x.descJSON = true
						if x.ds.name == "admin" {
							target = []byte("flattened")
						}
					}
					x.putObject(x.base+string(target), text)
					return
				}
			}
			if what == described && x.ds.name == "admin" {
				return // free text: the admin record's message and event.reason
			}
		}
	}
	if c := x.clean(v); c != nil {
		d.put2(x.base, to, c)
	}
}

// putObject puts a JSON object's members (cleaned) under path.
func (x *elastic) putObject(path string, obj []byte) {
	var s jsonscan.Scanner
	s.Reset(obj)
	at := int32(-1)
	s.Members(func(key []byte, esc bool) error {
		v, err := s.Value()
		if err != nil {
			return err
		}
		key = jsonscan.Key(key, esc)
		if c := x.clean(v); c != nil && !badName(key) {
			if at < 0 {
				at = x.d.node(path)
			}
			x.d.putAt(at, key, c)
		}
		return nil
	})
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
			return x.d.lit([]byte{'"'}, v.Raw, []byte{'"'})
		}
	case jsonscan.Object, jsonscan.Array:
		start := len(x.d.buf)
		var ok bool
		x.d.buf, ok = appendClean(x.d.buf, v.Raw)
		if !ok {
			x.d.buf = x.d.buf[:start]
			return nil
		}
		return x.d.buf[start:len(x.d.buf):len(x.d.buf)]
	}
	return v.Raw
}

// appendClean appends raw (a JSON value, already scanned) without null or
// "" values and the objects and lists that leave empty; false when the
// whole value goes.
func appendClean(dst, raw []byte) ([]byte, bool) {
	c := cleaner{dst: dst}
	c.s.Reset(raw)
	start := len(dst)
	kept, err := c.put()
	if err != nil || !kept {
		return c.dst[:start], false
	}
	return c.dst, true
}

// cleaner is appendClean's state: methods, not closures, so that nothing
// escapes to the heap.
type cleaner struct {
	s   jsonscan.Scanner
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
