package duo

import (
	"fmt"
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
)

// LogTypes lists every log type, in a stable order.
var LogTypes = []LogType{Auth, Admin, Offline, Telephony}

// Admin API log endpoints.
const (
	PathAuthV2      = "/admin/v2/logs/authentication"
	PathTelephonyV2 = "/admin/v2/logs/telephony"
	PathTelephonyV1 = "/admin/v1/logs/telephony"
	PathAdmin       = "/admin/v1/logs/administrator"
	PathOffline     = "/admin/v1/logs/offline_enrollment"
)

// ParseLogType returns the log type named s.
func ParseLogType(s string) (LogType, error) {
	switch t := LogType(strings.TrimSpace(s)); t {
	case Auth, Admin, Offline, Telephony:
		return t, nil
	}
	return "", fmt.Errorf("unknown log type %q: use auth, admin, offline or telephony", s)
}

// EventType is the eventtype value the connector adds to this log's
// records, which selects the normalizer's mapping.
func (t LogType) EventType() string { return string(t) + "_log" }
