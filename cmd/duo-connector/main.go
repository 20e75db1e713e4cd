// Command duo-connector collects Duo Security logs from the Duo Admin API,
// normalizes them to ECS and publishes them to Kafka.
//
// Exit status: 0 success; 1 the work ran but something failed (a malformed
// record, a fatal error while running); 2 usage or configuration errors.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/duo-connector/duo-connector/connector/metrics"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitInterrupted: a one-shot run (run --once, backfill) stopped by a
	// signal before it finished; running it again continues it.
	exitInterrupted = 3
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise: it keeps the garbage collector from letting
// the heap double past what a few pages in flight need.
const defaultMemoryLimit = 80 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(dispatch(os.Args[1:], env{os.Stdin, os.Stdout, os.Stderr, os.Environ()}))
}

// run executes one command line with an empty environment (tests).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatch(args, env{stdin, stdout, stderr, nil})
}

// dispatch executes one command line and returns the process exit status.
func dispatch(args []string, e env) int {
	stdin, stdout, stderr := e.stdin, e.stdout, e.stderr
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "normalize":
		return runNormalize(args[1:], stdin, stdout, stderr)
	case "run":
		return runRun(args[1:], e)
	case "backfill":
		return runBackfill(args[1:], e)
	case "checkpoint":
		return runCheckpoint(args[1:], e)
	case "config":
		return runConfig(args[1:], e)
	case "version", "--version", "-version":
		b := metrics.BuildOf(version)
		fmt.Fprintf(stdout, "duo-connector %s (%s, %s/%s)\n", b.Version, b.GoVersion, runtime.GOOS, runtime.GOARCH)
		if b.Revision != "" {
			fmt.Fprintf(stdout, "commit %s, %s\n", b.Revision, b.Time)
		}
		return exitOK
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "duo-connector: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `duo-connector collects Duo Security logs, normalizes them to ECS and
publishes them to Kafka.

Usage:
  duo-connector <command> [flags]

Commands:
  run         run the connector (the daemon; --once to drain and exit)
  backfill    publish the records of a closed time range, then exit
  checkpoint  show or reset the saved cursors
  config      check a configuration against Duo and Kafka; list every key
  normalize   normalize NDJSON raw Duo records from files or stdin to ECS JSON
  version     print the version
  help        show this help

Run 'duo-connector <command> -h' for a command's flags.

Exit status: 0 success, 1 failure while running (or malformed input records),
2 usage or configuration error.
`)
}
