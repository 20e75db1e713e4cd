package normalize

import (
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
