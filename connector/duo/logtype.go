package duo

import (
	"fmt"
	"slices"
	"strings"
)

// LogType is one of the Admin API logs the connector collects.
type LogType string

// The log types, by their configuration names.
const (
	Auth      LogType = "auth"
	Admin     LogType = "admin"
	Offline   LogType = "offline"
	Telephony LogType = "telephony"
	// Activity is Duo's unified activity log (in preview); opt-in.
	Activity LogType = "activity"
	// TrustMonitor is Trust Monitor's events (Premier and Advantage
	// editions); opt-in.
	TrustMonitor LogType = "trust_monitor"
)

// LogTypes lists every log type, in a stable order.
var LogTypes = []LogType{Auth, Admin, Offline, Telephony, Activity, TrustMonitor}

// DefaultLogTypes are the logs collected unless the configuration says
// otherwise: Trust Monitor (an edition few accounts have) is opt-in.
var DefaultLogTypes = []LogType{Auth, Admin, Offline, Telephony, Activity}

// Admin API log endpoints.
const (
	PathAuthV2       = "/admin/v2/logs/authentication"
	PathTelephonyV2  = "/admin/v2/logs/telephony"
	PathTelephonyV1  = "/admin/v1/logs/telephony"
	PathAdmin        = "/admin/v1/logs/administrator"
	PathOffline      = "/admin/v1/logs/offline_enrollment"
	PathActivity     = "/admin/v2/logs/activity"
	PathTrustMonitor = "/admin/v1/trust_monitor/events"
)

// ParseLogType returns the log type named s.
func ParseLogType(s string) (LogType, error) {
	switch t := LogType(strings.TrimSpace(s)); t {
	case Auth, Admin, Offline, Telephony, Activity, TrustMonitor:
		return t, nil
	}
	return "", fmt.Errorf("unknown log type %q: use auth, admin, offline, telephony, activity or trust_monitor", s)
}

// EventType is the eventtype value the connector adds to this log's
// records, which selects the normalizer's mapping.
func (t LogType) EventType() string {
	if t == TrustMonitor {
		return "trust_monitor_event"
	}
	return string(t) + "_log"
}

// Path is the Admin API endpoint the log is read from (telephony from its
// legacy v1 endpoint when telephonyV1).
func (t LogType) Path(telephonyV1 bool) string {
	switch t {
	case Auth:
		return PathAuthV2
	case Admin:
		return PathAdmin
	case Offline:
		return PathOffline
	case Telephony:
		if telephonyV1 {
			return PathTelephonyV1
		}
		return PathTelephonyV2
	case Activity:
		return PathActivity
	case TrustMonitor:
		return PathTrustMonitor
	}
	return ""
}

// ParseLogTypes parses a comma-separated list of log types.
func ParseLogTypes(s string) ([]LogType, error) {
	var out []LogType
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		lt, err := ParseLogType(part)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, lt) {
			return nil, fmt.Errorf("%s is listed twice", lt)
		}
		out = append(out, lt)
	}
	return out, nil
}
