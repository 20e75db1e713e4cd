package duotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
)

// Generator makes realistic log records: the fields, value shapes and sizes
// of Duo's own, from a fixed seed.
type Generator struct {
	rng *rand.Rand
}

// NewGenerator returns a Generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, 0x6475_6f67_656e))}
}

// Record makes one record of log type t at time at (telephony: v2).
func (g *Generator) Record(t duo.LogType, at time.Time) Record {
	switch t {
	case duo.Auth:
		return g.auth(at)
	case duo.Admin:
		return g.admin(at)
	case duo.Offline:
		return g.offline(at)
	case duo.Activity:
		return g.activity(at)
	case duo.TrustMonitor:
		return g.trustMonitor(at)
	}
	return g.telephonyV2(at)
}

var activityActions = []string{"admin_login", "user_update", "user_create", "phone_create", "integration_update", "admin_update_user", "policy_update"}

// activity makes an activity-log record, in either shape Duo has been
// seen to send: action as an object (with details as a JSON string or an
// object) or as a string, the access device's ip as {address} or a string.
func (g *Generator) activity(at time.Time) Record {
	at = at.Truncate(time.Microsecond)
	u, admin := pick(g, users), pick(g, users)
	p := pick(g, places)
	b := pick(g, browsers)
	id := g.uuid()
	name := pick(g, activityActions)
	rec := map[string]any{
		"activity_id": id,
		"akey":        g.key("DA"),
		"ts":          at.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		"actor":       map[string]any{"key": admin.key, "name": admin.name, "type": pick(g, []string{"admin", "user", "system"}), "details": "{}"},
		"target":      map[string]any{"key": u.key, "name": u.name, "type": pick(g, []string{"user", "user", "integration", "phone"}), "details": map[string]any{"email": u.email}},
		"application": map[string]any{"key": g.key("DI"), "name": pick(g, apps), "type": "admin_panel"},
		"outcome":     map[string]any{"result": pick(g, []string{"SUCCESS", "SUCCESS", "FAILURE"})},
	}
	device := map[string]any{
		"browser": b.name, "browser_version": b.version, "os": b.os, "os_version": b.osVersion, "epkey": nil,
		"location": map[string]any{"city": p.city, "country": p.country, "state": p.state},
	}
	if g.rng.IntN(2) == 0 {
		rec["action"] = map[string]any{"name": name, "details": `{"status": "active"}`}
		device["ip"] = map[string]any{"address": g.ip()}
	} else {
		rec["action"] = name
		device["ip"] = g.ip()
	}
	rec["access_device"] = device
	return Record{Type: duo.Activity, Time: at, ID: id, Raw: mustJSON(rec)}
}

// trustMonitor makes a Trust Monitor event: an auth anomaly with its
// surfaced authentication, or a bypass-status event.
func (g *Generator) trustMonitor(at time.Time) Record {
	at = at.Truncate(time.Millisecond)
	sekey := "SE" + g.key("")
	u, admin := pick(g, users), pick(g, users)
	rec := map[string]any{
		"sekey":                   sekey,
		"surfaced_timestamp":      at.UnixMilli(),
		"priority_event":          g.rng.IntN(4) == 0,
		"priority_reasons":        []any{},
		"state":                   pick(g, []string{"new", "triaged", "processed"}),
		"state_updated_timestamp": nil,
		"triaged_as_interesting":  false,
		"from_common_netblock":    true,
		"from_new_user":           false,
		"low_risk_ip":             false,
		"triage_event_uri":        "https://admin-x.duosecurity.com/trust-monitor?sekey=" + sekey,
	}
	if g.rng.IntN(3) == 0 {
		rec["type"] = "bypass_status"
		rec["bypass_status_enabled"] = at.Unix()
		rec["enabled_by"] = map[string]any{"key": admin.key, "name": admin.name}
		rec["enabled_for"] = map[string]any{"key": u.key, "name": u.name}
		rec["explanations"] = []any{map[string]any{"summary": u.name + " was put in bypass status.", "type": "BYPASS_STATUS_ENABLED"}}
	} else {
		a := g.auth(at.Add(-time.Minute))
		var surfaced map[string]any
		json.Unmarshal(a.Raw, &surfaced)
		rec["type"] = "auth"
		rec["surfaced_auth"] = surfaced
		rec["explanations"] = []any{
			map[string]any{"summary": "A new location.", "type": "NEW_COUNTRY"},
			map[string]any{"summary": "A new browser.", "type": "NEW_BROWSER"},
		}
	}
	return Record{Type: duo.TrustMonitor, Time: at, ID: sekey, Raw: mustJSON(rec)}
}

// TelephonyV1 makes one legacy telephony record (no id, whole seconds).
func (g *Generator) TelephonyV1(at time.Time) Record {
	at = at.Truncate(time.Second)
	r := telephonyV1Record{
		Context: pick(g, contexts), Credits: g.rng.IntN(3), ISOTimestamp: at.UTC().Format("2006-01-02T15:04:05+00:00"),
		Phone: g.phone(), Timestamp: at.Unix(), Type: pick(g, []string{"sms", "phone"}),
	}
	return Record{Type: duo.Telephony, Time: at, Raw: mustJSON(r)}
}

// Spread makes n records of type t at random times in [from, to).
func (g *Generator) Spread(t duo.LogType, from, to time.Time, n int) []Record {
	span := to.Sub(from)
	recs := make([]Record, n)
	for i := range recs {
		at := from.Add(time.Duration(g.rng.Int64N(int64(span))))
		recs[i] = g.Record(t, at)
	}
	slices.SortFunc(recs, cmpRecord)
	return recs
}

// Burst makes n records of type t all within the second that holds at.
func (g *Generator) Burst(t duo.LogType, at time.Time, n int) []Record {
	sec := at.Truncate(time.Second)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = g.Record(t, sec.Add(time.Duration(g.rng.Int64N(int64(time.Second)))))
	}
	slices.SortFunc(recs, cmpRecord)
	return recs
}

func pick[T any](g *Generator, xs []T) T { return xs[g.rng.IntN(len(xs))] }

func (g *Generator) uuid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff)
}

func (g *Generator) key(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte(prefix)
	for len(b) < 20 {
		b = append(b, alphabet[g.rng.IntN(len(alphabet))])
	}
	return string(b)
}

func (g *Generator) phone() string {
	return fmt.Sprintf("+1%03d555%04d", 200+g.rng.IntN(700), g.rng.IntN(10000))
}

func (g *Generator) ip() string {
	return fmt.Sprintf("%d.%d.%d.%d", 11+g.rng.IntN(200), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	users = []struct{ name, email, key string }{
		{"narroway", "narroway@example.com", "DU3KC77WJ06Y5HIV7XKQ"},
		{"jsmith", "jsmith@example.com", "DU9XK2P4M7Q1R8T3V5WZ"},
		{"mgarcia", "maria.garcia@example.com", "DUA7B3C9D1E5F2G8H4JK"},
		{"lchen", "li.chen@example.com", "DUL2M6N0P4Q8R3S7T1UV"},
		{"zoë.martin", "zoe.martin@example.fr", "DUW5X9Y3Z7A1B6C0D4EF"},
		{"okafor", "c.okafor@example.ng", "DUG8H2J6K0L4M9N3P7QR"},
	}
	places = []struct{ city, state, country string }{
		{"Ann Arbor", "Michigan", "United States"}, {"Paris", "Île-de-France", "France"},
		{"São Paulo", "São Paulo", "Brazil"}, {"Lagos", "Lagos", "Nigeria"},
		{"München", "Bayern", "Germany"}, {"Tokyo", "Tokyo", "Japan"},
	}
	browsers = []struct{ name, version, os, osVersion string }{
		{"Chrome", "120.0.6099.130", "Windows", "10"}, {"Edge Chromium", "119.0.2151.97", "Windows", "11"},
		{"Safari", "17.1", "Mac OS X", "14.1.2"}, {"Firefox", "121.0", "Linux", ""},
		{"Mobile Safari", "17.2", "iOS", "17.2.1"}, {"Chrome Mobile", "120.0.6099.144", "Android", "14"},
	}
	apps     = []string{"Microsoft Azure Active Directory", "Cisco AnyConnect VPN", "Okta", "Fortigate VPN SSL - Single Sign-On", "Windows Logon", "Salesforce"}
	groups   = []string{"Duo Users", "CorpHQ Users", "VPN Users", "GG_VPN_DUO (from AD sync \"AD Sync\")", "Finance", "Engineering"}
	factors  = []string{"duo_push", "duo_push", "duo_push", "phone_call", "passcode", "sms_passcode", "remembered_device", "WebAuthn Security Key"}
	contexts = []string{"authentication", "enrollment", "administrator login", "verify"}
)

type location struct {
	City    *string `json:"city"`
	Country *string `json:"country"`
	State   *string `json:"state"`
}

type authRecord struct {
	AccessDevice struct {
		Browser             string   `json:"browser"`
		BrowserVersion      string   `json:"browser_version"`
		Epkey               *string  `json:"epkey"`
		FlashVersion        string   `json:"flash_version"`
		Hostname            *string  `json:"hostname"`
		IP                  string   `json:"ip"`
		IsEncryptionEnabled any      `json:"is_encryption_enabled"`
		IsFirewallEnabled   any      `json:"is_firewall_enabled"`
		IsPasswordSet       any      `json:"is_password_set"`
		JavaVersion         string   `json:"java_version"`
		Location            location `json:"location"`
		OS                  string   `json:"os"`
		OSVersion           string   `json:"os_version"`
		SecurityAgents      any      `json:"security_agents"`
	} `json:"access_device"`
	AdaptiveTrustAssessments map[string]trustAssessment `json:"adaptive_trust_assessments"`
	Alias                    string                     `json:"alias"`
	Application              struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"application"`
	AuthDevice struct {
		IP       *string  `json:"ip"`
		Key      string   `json:"key"`
		Location location `json:"location"`
		Name     string   `json:"name"`
	} `json:"auth_device"`
	Email                 string  `json:"email"`
	EventType             string  `json:"event_type"`
	Factor                string  `json:"factor"`
	ISOTimestamp          string  `json:"isotimestamp"`
	OODSoftware           *string `json:"ood_software"`
	Reason                string  `json:"reason"`
	Result                string  `json:"result"`
	Timestamp             int64   `json:"timestamp"`
	TrustedEndpointStatus string  `json:"trusted_endpoint_status"`
	TxID                  string  `json:"txid"`
	User                  struct {
		Groups []string `json:"groups"`
		Key    string   `json:"key"`
		Name   string   `json:"name"`
	} `json:"user"`
}

type trustAssessment struct {
	FeaturesVersion string `json:"features_version"`
	ModelVersion    string `json:"model_version"`
	PolicyEnabled   bool   `json:"policy_enabled"`
	Reason          string `json:"reason"`
	TrustLevel      string `json:"trust_level"`
}

func ptr(s string) *string { return &s }

func (g *Generator) auth(at time.Time) Record {
	at = at.Truncate(time.Microsecond)
	var r authRecord
	u := pick(g, users)
	p := pick(g, places)
	b := pick(g, browsers)
	ad := &r.AccessDevice
	ad.Browser, ad.BrowserVersion, ad.OS, ad.OSVersion = b.name, b.version, b.os, b.osVersion
	ad.FlashVersion, ad.JavaVersion = "uninstalled", "uninstalled"
	if g.rng.IntN(3) == 0 {
		ad.Hostname = ptr(fmt.Sprintf("WKS-%04d", g.rng.IntN(10000)))
		ad.Epkey = ptr(g.key("EP"))
	}
	ad.IP = g.ip()
	ad.IsEncryptionEnabled, ad.IsFirewallEnabled, ad.IsPasswordSet = true, true, true
	if g.rng.IntN(4) == 0 {
		ad.IsEncryptionEnabled, ad.IsFirewallEnabled, ad.IsPasswordSet = "unknown", "unknown", "unknown"
	}
	ad.Location = location{&p.city, &p.country, &p.state}
	ad.SecurityAgents = []any{}
	r.AdaptiveTrustAssessments = map[string]trustAssessment{
		"more_secure_auth": {"3.0", "2022.07.19.001", false, "Normal level of trust; no detection of known attack pattern", "NORMAL"},
		"remember_me":      {"3.0", "2022.07.19.001", false, "Known Access IP", "NORMAL"},
	}
	r.Application.Key, r.Application.Name = g.key("DI"), pick(g, apps)
	r.AuthDevice.IP, r.AuthDevice.Key = ptr(g.ip()), g.key("DP")
	r.AuthDevice.Location = location{&p.city, &p.country, &p.state}
	r.AuthDevice.Name = fmt.Sprintf("My iPhone (%s)", g.phone())
	r.Email = u.email
	r.EventType = "authentication"
	r.Factor = pick(g, factors)
	r.ISOTimestamp = at.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	r.Result, r.Reason = "success", "user_approved"
	switch g.rng.IntN(10) {
	case 0:
		r.Result, r.Reason = "denied", "user_cancelled"
	case 1:
		r.Result, r.Reason = "denied", "invalid_passcode"
	}
	r.Timestamp = at.Unix()
	r.TrustedEndpointStatus = pick(g, []string{"not trusted", "trusted", "unknown"})
	r.TxID = g.uuid()
	r.User.Groups = []string{pick(g, groups), pick(g, groups)}
	r.User.Key, r.User.Name = u.key, u.name
	return Record{Type: duo.Auth, Time: at, ID: r.TxID, Raw: mustJSON(r)}
}

type v1Record struct {
	Action       string  `json:"action"`
	Description  *string `json:"description"`
	ISOTimestamp string  `json:"isotimestamp"`
	Object       *string `json:"object"`
	Timestamp    int64   `json:"timestamp"`
	Username     string  `json:"username"`
}

var adminActions = []string{"user_update", "user_create", "admin_login", "admin_login_error", "group_update", "phone_create", "bypass_create", "integration_update", "policy_update"}

func (g *Generator) admin(at time.Time) Record {
	at = at.Truncate(time.Second)
	u := pick(g, users)
	r := v1Record{Action: pick(g, adminActions), ISOTimestamp: at.UTC().Format("2006-01-02T15:04:05+00:00"), Timestamp: at.Unix(), Username: "Admin " + u.name}
	var desc map[string]any
	switch r.Action {
	case "admin_login":
		desc = map[string]any{"ip_address": g.ip(), "role": "Owner", "device": g.phone(), "factor": "push", "primary_auth_method": "Password"}
	case "admin_login_error":
		desc = map[string]any{"ip_address": g.ip(), "error": "SAML login is disabled", "email": u.email}
		r.Username = ""
	default:
		target := pick(g, users)
		r.Object = ptr(target.name)
		desc = map[string]any{"realname": target.name, "email": target.email, "notes": fmt.Sprintf("change #%d", g.rng.IntN(100000)), "status": "Active"}
	}
	r.Description = ptr(string(mustJSON(desc)))
	return Record{Type: duo.Admin, Time: at, Raw: mustJSON(r)}
}

var credProvVersions = []string{"4.0.6.413", "4.1.0.234", "4.2.1.550", "4.2.2.901", "4.3.0.120"}

func (g *Generator) offline(at time.Time) Record {
	at = at.Truncate(time.Second)
	u := pick(g, users)
	build := pick(g, []string{"6.3.9600; x64; Server", "10.0.19045; x64; Workstation", "10.0.22631; x64; Workstation"})
	desc := map[string]string{
		// An account runs a few Duo for Windows Logon releases at a
		// time, not thousands: the user agents repeat.
		"user_agent": fmt.Sprintf("DuoCredProv/%s (Windows NT %s)", pick(g, credProvVersions), build),
		"hostname":   fmt.Sprintf("WKS-%04d", g.rng.IntN(10000)),
		"factor":     pick(g, []string{"duo_otp", "security_key"}),
	}
	r := v1Record{
		Action:       pick(g, []string{"o2fa_user_provisioned", "o2fa_user_deprovisioned", "o2fa_user_reenrolled"}),
		Description:  ptr(string(mustJSON(desc))),
		ISOTimestamp: at.UTC().Format("2006-01-02T15:04:05+00:00"),
		Object:       ptr("Acme Laptop Windows Logon"),
		Timestamp:    at.Unix(),
		Username:     u.name,
	}
	return Record{Type: duo.Offline, Time: at, Raw: mustJSON(r)}
}

type telephonyV2Record struct {
	Context     string `json:"context"`
	Credits     int    `json:"credits"`
	Phone       string `json:"phone"`
	TelephonyID string `json:"telephony_id"`
	TS          string `json:"ts"`
	TxID        string `json:"txid"`
	Type        string `json:"type"`
}

type telephonyV1Record struct {
	Context      string `json:"context"`
	Credits      int    `json:"credits"`
	ISOTimestamp string `json:"isotimestamp"`
	Phone        string `json:"phone"`
	Timestamp    int64  `json:"timestamp"`
	Type         string `json:"type"`
}

func (g *Generator) telephonyV2(at time.Time) Record {
	at = at.Truncate(time.Microsecond)
	r := telephonyV2Record{
		Context: pick(g, contexts), Credits: g.rng.IntN(3), Phone: g.phone(), TelephonyID: g.uuid(),
		TS: at.UTC().Format("2006-01-02T15:04:05.000000+00:00"), TxID: g.uuid(), Type: pick(g, []string{"sms", "phone"}),
	}
	return Record{Type: duo.Telephony, Time: at, ID: r.TelephonyID, Raw: mustJSON(r)}
}

// Fill makes n records of type t spread evenly over [from, to), quickly:
// it varies the time and id fields of a small pool of generated records
// instead of generating each one. For large benchmark data sets.
func (g *Generator) Fill(t duo.LogType, from, to time.Time, n int) []Record {
	const pool = 256
	templates := make([]Record, pool)
	for i := range templates {
		templates[i] = g.Record(t, from)
	}
	step := to.Sub(from) / time.Duration(max(n, 1))
	recs := make([]Record, n)
	for i := range recs {
		tmpl := templates[i%pool]
		at := from.Add(time.Duration(i) * step)
		raw := tmpl.Raw
		raw = replaceTime(raw, tmpl.Time, at, t)
		id := ""
		if tmpl.ID != "" {
			id = g.uuid()
			raw = bytes.Replace(raw, []byte(tmpl.ID), []byte(id), 1)
		}
		switch {
		case t == duo.TrustMonitor:
			at = at.Truncate(time.Millisecond)
		case tmpl.ID != "":
			at = at.Truncate(time.Microsecond)
		default:
			at = at.Truncate(time.Second)
		}
		recs[i] = Record{Type: t, Time: at, ID: id, Raw: raw}
	}
	return recs
}

// replaceTime rewrites the time fields a template record carries.
func replaceTime(raw []byte, old, at time.Time, t duo.LogType) []byte {
	switch t {
	case duo.Auth:
		at = at.Truncate(time.Microsecond)
		raw = bytes.Replace(raw, []byte(old.UTC().Format("2006-01-02T15:04:05.000000+00:00")), []byte(at.UTC().Format("2006-01-02T15:04:05.000000+00:00")), 1)
		return bytes.Replace(raw, fmt.Appendf(nil, `"timestamp":%d`, old.Unix()), fmt.Appendf(nil, `"timestamp":%d`, at.Unix()), 1)
	case duo.Telephony, duo.Activity:
		at = at.Truncate(time.Microsecond)
		return bytes.Replace(raw, []byte(old.UTC().Format("2006-01-02T15:04:05.000000+00:00")), []byte(at.UTC().Format("2006-01-02T15:04:05.000000+00:00")), 1)
	case duo.TrustMonitor:
		return bytes.Replace(raw, fmt.Appendf(nil, `"surfaced_timestamp":%d`, old.UnixMilli()), fmt.Appendf(nil, `"surfaced_timestamp":%d`, at.Truncate(time.Millisecond).UnixMilli()), 1)
	}
	at = at.Truncate(time.Second)
	raw = bytes.Replace(raw, []byte(old.UTC().Format("2006-01-02T15:04:05+00:00")), []byte(at.UTC().Format("2006-01-02T15:04:05+00:00")), 1)
	return bytes.Replace(raw, fmt.Appendf(nil, `"timestamp":%d`, old.Unix()), fmt.Appendf(nil, `"timestamp":%d`, at.Unix()), 1)
}
