package sdnotify_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/sdnotify"
)

// listen opens a notification socket like systemd's and returns what
// arrives on it.
func listen(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func TestNotify(t *testing.T) {
	path, ch := listen(t)
	n := sdnotify.New([]string{"NOTIFY_SOCKET=" + path})
	if !n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatal("not enabled, or a watchdog without WATCHDOG_USEC")
	}
	for _, s := range []string{"READY=1", "STOPPING=1"} {
		if err := n.Notify(s); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, ch); got != s {
			t.Fatalf("got %q, want %q", got, s)
		}
	}
}

func TestWatchdog(t *testing.T) {
	path, ch := listen(t)
	n := sdnotify.New([]string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=100000", "WATCHDOG_PID=" + strconv.Itoa(os.Getpid())})
	if n.WatchdogInterval() != 100*time.Millisecond {
		t.Fatalf("interval %s", n.WatchdogInterval())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Watchdog(ctx, func() bool { return true })
	for range 3 {
		if got := recv(t, ch); got != "WATCHDOG=1" {
			t.Fatalf("got %q", got)
		}
	}
	// Another process's watchdog is not ours.
	if other := sdnotify.New([]string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=100000", "WATCHDOG_PID=1"}); other.WatchdogInterval() != 0 {
		t.Fatal("watchdog meant for another pid was taken")
	}
}

func TestOutsideSystemd(t *testing.T) {
	n := sdnotify.New(nil)
	if n.Enabled() || n.Notify("READY=1") != nil {
		t.Fatal("a notifier without NOTIFY_SOCKET must do nothing")
	}
}
