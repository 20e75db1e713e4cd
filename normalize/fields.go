package normalize

import (
	"bytes"
	"strings"
)

// field names one output field of the ECS document. The constants are in
// output order, which keeps fields that share a parent next to each other
// so the encoder can write nested objects in one pass.
type field int

const (
	fErrorMessage field = iota
	fEventAction
	fEventCategory
	fEventDataset
	fEventID
	fEventKind
	fEventOutcome
	fEventReason
	fEventType
	fEventURL
	fTimestamp
	fDuoActorType
	fDuoApplicationName
	fDuoObject
	fDuoTargetName
	fDuoTargetType
	fDuoPhoneNumber
	fDuoTelephonyType
	fDuoTMExplanations
	fDuoTMPriorityEvent
	fDuoTMState
	fHostName
	fHostOSName
	fHostOSVersion
	fObserverHostname
	fObserverProduct
	fObserverVendor
	fRelatedHosts
	fRelatedIP
	fRelatedUser
	fSourceAddress
	fSourceCity
	fSourceCountry
	fSourceRegion
	fSourceIP
	fUserEmail
	fUserID
	fUserName
	fUserRoles
	fUserTargetID
	fUserTargetName
	fUADeviceName
	fUAName
	fUAOriginal
	fUAOSName
	fUAOSVersion
	fUAVersion
	numFields
)

// fieldPaths are the dotted ECS names, indexed by field.
var fieldPaths = [numFields]string{
	fErrorMessage:       "error.message",
	fEventAction:        "event.action",
	fEventCategory:      "event.category",
	fEventDataset:       "event.dataset",
	fEventID:            "event.id",
	fEventKind:          "event.kind",
	fEventOutcome:       "event.outcome",
	fEventReason:        "event.reason",
	fEventType:          "event.type",
	fEventURL:           "event.url",
	fTimestamp:          "@timestamp",
	fDuoActorType:       "duo.security.actor.type",
	fDuoApplicationName: "duo.security.application.name",
	fDuoObject:          "duo.security.object",
	fDuoTargetName:      "duo.security.target.name",
	fDuoTargetType:      "duo.security.target.type",
	fDuoPhoneNumber:     "duo.security.telephony.phone_number",
	fDuoTelephonyType:   "duo.security.telephony.type",
	fDuoTMExplanations:  "duo.security.trust_monitor.explanations",
	fDuoTMPriorityEvent: "duo.security.trust_monitor.priority_event",
	fDuoTMState:         "duo.security.trust_monitor.state",
	fHostName:           "host.name",
	fHostOSName:         "host.os.name",
	fHostOSVersion:      "host.os.version",
	fObserverHostname:   "observer.hostname",
	fObserverProduct:    "observer.product",
	fObserverVendor:     "observer.vendor",
	fRelatedHosts:       "related.hosts",
	fRelatedIP:          "related.ip",
	fRelatedUser:        "related.user",
	fSourceAddress:      "source.address",
	fSourceCity:         "source.geo.city_name",
	fSourceCountry:      "source.geo.country_name",
	fSourceRegion:       "source.geo.region_name",
	fSourceIP:           "source.ip",
	fUserEmail:          "user.email",
	fUserID:             "user.id",
	fUserName:           "user.name",
	fUserRoles:          "user.roles",
	fUserTargetID:       "user.target.id",
	fUserTargetName:     "user.target.name",
	fUADeviceName:       "user_agent.device.name",
	fUAName:             "user_agent.name",
	fUAOriginal:         "user_agent.original",
	fUAOSName:           "user_agent.os.name",
	fUAOSVersion:        "user_agent.os.version",
	fUAVersion:          "user_agent.version",
}

// segments holds each field's path split on dots, with every segment
// pre-encoded as a JSON object key (`"name":`).
var segments = func() (s [numFields][][]byte) {
	for f, p := range fieldPaths {
		for _, part := range strings.Split(p, ".") {
			s[f] = append(s[f], append(appendQuotedString(nil, part), ':'))
		}
	}
	return s
}()

// FieldNames lists every ECS field either mapping can produce, besides
// message, in output order.
func FieldNames() []string { return append([]string(nil), fieldPaths[:]...) }

// appendFields writes the set fields of vals as members of the open
// top-level object, nesting them by path. The top-level object must already
// have a member (message), so every field starts with a comma at the level
// where it branches off from the previous one.
func appendFields(dst []byte, vals *[numFields][]byte) []byte {
	var stack [4][]byte // segments of the objects currently open
	open := stack[:0]
	for f := field(0); f < numFields; f++ {
		v := vals[f]
		if v == nil {
			continue
		}
		path := segments[f]
		parents := path[:len(path)-1]
		common := 0
		for common < len(open) && common < len(parents) && bytes.Equal(open[common], parents[common]) {
			common++
		}
		for i := len(open); i > common; i-- {
			dst = append(dst, '}')
		}
		open = open[:common]
		dst = append(dst, ',')
		for _, p := range parents[common:] {
			dst = append(dst, p...)
			dst = append(dst, '{')
			open = append(open, p)
		}
		dst = append(dst, path[len(path)-1]...)
		dst = append(dst, v...)
	}
	for range open {
		dst = append(dst, '}')
	}
	return dst
}
