// Package sdnotify speaks systemd's notification protocol (sd_notify):
// READY=1, STOPPING=1 and watchdog keep-alives, sent as datagrams to the
// socket systemd names in NOTIFY_SOCKET. Outside systemd it does nothing.
package sdnotify

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to systemd.
type Notifier struct {
	socket   string
	watchdog time.Duration
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from environ. It
// returns a Notifier that does nothing when not run by systemd.
func New(environ []string) *Notifier {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	n := &Notifier{socket: env["NOTIFY_SOCKET"]}
	if usec, err := strconv.ParseInt(env["WATCHDOG_USEC"], 10, 64); err == nil && usec > 0 {
		pid, err := strconv.Atoi(env["WATCHDOG_PID"])
		if env["WATCHDOG_PID"] == "" || (err == nil && pid == os.Getpid()) {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether systemd is listening.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// Notify sends one state string, such as "READY=1".
func (n *Notifier) Notify(state string) error {
	if n.socket == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// WatchdogInterval is how often systemd expects a keep-alive (zero when
// the watchdog is off).
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog }

// Watchdog sends WATCHDOG=1 at half the watchdog interval while alive
// reports true, until ctx ends. It returns at once when the watchdog is
// off.
func (n *Notifier) Watchdog(ctx context.Context, alive func() bool) {
	if n.socket == "" || n.watchdog == 0 {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		if alive() {
			n.Notify("WATCHDOG=1")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
