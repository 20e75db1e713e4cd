package normalize

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestECSFieldsCount: numECSFields sizes the slots of ecsFields, and
// ecsField finds each at its index.
func TestECSFieldsCount(t *testing.T) {
	if len(ecsFields) != numECSFields {
		t.Fatalf("ecsFields has %d paths, numECSFields is %d", len(ecsFields), numECSFields)
	}
	for i, f := range ecsFields {
		if got := ecsField([]byte(f)); got != i {
			t.Errorf("ecsField(%q) = %d, want %d", f, got, i)
		}
	}
	for _, f := range []string{"", "user", "resul", "results", "access_device.ip.addres"} {
		if got := ecsField([]byte(f)); got != -1 {
			t.Errorf("ecsField(%q) = %d, want -1", f, got)
		}
	}
}

// TestSplitHostPort: every form Duo is seen to send an address in.
func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string][2]string{
		"89.160.20.112":       {"89.160.20.112", ""},
		"89.160.20.112:1234":  {"89.160.20.112", "1234"},
		"[2a02:cf40::1]:1234": {"2a02:cf40::1", "1234"},
		"2a02:cf40::1":        {"2a02:cf40::1", ""},
		"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6:1234":    {"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "1234"},
		"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6#1234":    {"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "1234"},
		"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6p1234":    {"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "1234"},
		"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6.1234":    {"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "1234"},
		"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6 port 80": {"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "80"},
		"1.2.3.4:0080": {"1.2.3.4", "80"}, // written as a JSON number is
		"0::#00000":    {"0::", "0"},
	} {
		ip, port, ok := splitHostPort(in)
		if !ok || ip != want[0] || port != want[1] {
			t.Errorf("splitHostPort(%q) = %q, %q, %t; want %q, %q", in, ip, port, ok, want[0], want[1])
		}
	}
	for _, in := range []string{"", "null", "pilot", "1.2.3.4:99999", "1.2.3.4:-1", "2a02:cf40::1:1234:", "1.2.3.4.1234", "[1.2.3.4]:80", "fe80::1%eth0", "[fe80::1%eth0]:80"} {
		if ip, port, ok := splitHostPort(in); ok {
			t.Errorf("splitHostPort(%q) = %q, %q: want not an address", in, ip, port)
		}
	}
}

// TestGuessEventType: the dataset is guessed from the eventtype member
// where the connector puts it (last) or where the reference document has
// it (first, indented or not); a wrong or missing guess only costs a
// second walk (TestElasticGuessWrong).
func TestGuessEventType(t *testing.T) {
	long := `"x":"` + strings.Repeat("y", 300) + `",`
	for _, tc := range []struct{ in, want string }{
		{`{"eventtype":"auth_log","a":1}`, "auth_log"},
		{"{\n  \"eventtype\": \"admin_log\",\n  \"a\": 1\n}", "admin_log"},
		{` { "eventtype" : "telephony_log" }`, "telephony_log"},
		{`{"a":1,"eventtype":"activity_log"}`, "activity_log"},
		{`{"a":1,"eventtype": "activity_log"}`, "activity_log"},
		{`{` + long + `"eventtype":"offline_log",` + long + `"b":2}`, "offline_log"},
		{`{"eventtype":1,"a":"eventtype"}`, ""},
		{`{"eventtype":"auth_log","eventtype":"admin_log"}`, "auth_log"}, // a guess, checked after the walk
		{`{"a":"\"eventtype\":\"auth_log\""}`, ""},
		{`{"eventtype":"unterminated`, ""},
		{`{"a":1}`, ""},
		{``, ""},
	} {
		if got := string(guessEventType([]byte(tc.in))); got != tc.want {
			t.Errorf("guessEventType(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestElasticGuessWrong: a record whose eventtype the guess misses or
// gets wrong is walked again with its real dataset.
func TestElasticGuessWrong(t *testing.T) {
	n := mustNew(t, Elastic)
	for _, in := range []string{
		`{"eventtype":"auth_log","eventtype":"admin_log","username":"u"}`,
		`{"eventtype":1,"eventtype":"admin_log","username":"u"}`,
	} {
		doc, _ := n.Normalize([]byte(in))
		var d struct {
			Event struct{ Dataset string }
			User  struct{ Name string }
		}
		if err := json.Unmarshal(doc, &d); err != nil || d.Event.Dataset != "cisco_duo.admin" || d.User.Name != "u" {
			t.Errorf("%s: %v\n%s", in, err, doc)
		}
	}
}

// TestSlotsGrouped: the ECS slots of one object are written together (the
// writer opens each object once: a field apart from its siblings would
// name their object twice), and fit ecsDoc's mask.
func TestSlotsGrouped(t *testing.T) {
	if numSlots > 64 {
		t.Fatalf("%d slots: ecsDoc marks at most 64", numSlots)
	}
	closed := map[string]bool{}
	var open []string
	for _, name := range slotNames {
		p := strings.Split(name, ".")
		parents := p[:len(p)-1]
		c := 0
		for c < len(open) && c < len(parents) && open[c] == parents[c] {
			c++
		}
		for i := len(open) - 1; i >= c; i-- {
			closed[strings.Join(open[:i+1], ".")] = true
		}
		open = append(open[:c], parents[c:]...)
		for i := c; i < len(parents); i++ {
			if obj := strings.Join(parents[:i+1], "."); closed[obj] {
				t.Errorf("%s: its object %s was written before, with other fields between", name, obj)
			}
		}
		if closed[name] {
			t.Errorf("%s is an object written before", name)
		}
	}
	// And the writer's output: every slot set, no object named twice.
	var e ecsDoc
	for s := range numSlots {
		e.set(s, []byte(`1`))
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(e.appendTo(nil))))
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if err := noDuplicateNames(e.appendTo(nil)); err != nil {
		t.Fatal(err)
	}
}
