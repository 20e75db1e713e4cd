package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/duo-connector/duo-connector/connector/config"
)

// env is the process environment; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
}

// configFlag adds --config, defaulting to $DUO_CONNECTOR_CONFIG.
func configFlag(fs *flag.FlagSet, e env) *string {
	def := ""
	for _, kv := range e.environ {
		if v, ok := strings.CutPrefix(kv, config.EnvPrefix+"CONFIG="); ok {
			def = v
		}
	}
	return fs.String("config", def, "configuration file (default $"+config.EnvPrefix+"CONFIG)")
}

// loadConfig loads and validates the configuration, reporting problems.
func loadConfig(path string, e env, cmd string) (config.Config, bool) {
	if path == "" {
		fmt.Fprintf(e.stderr, "duo-connector %s: --config is required (or set %sCONFIG)\n", cmd, config.EnvPrefix)
		return config.Config{}, false
	}
	cfg, err := config.Load(path, e.environ)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector %s: %v\n", cmd, err)
		return cfg, false
	}
	return cfg, true
}

// newLogger builds the process logger on w. Under systemd (JOURNAL_STREAM
// set) journald stamps lines itself, so the time is left out.
func newLogger(cfg config.Config, e env, w io.Writer) *slog.Logger {
	journald := false
	for _, kv := range e.environ {
		journald = journald || strings.HasPrefix(kv, "JOURNAL_STREAM=")
	}
	return slog.New(cfg.Log.Handler(w, journald))
}

// parseFlags parses args, printing usage on -h. It returns the exit code
// to stop with, or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		arg := fs.Arg(0)
		if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
			fmt.Fprintf(fs.Output(), "unexpected argument %q: give the configuration file with --config %s\n", arg, arg)
		} else {
			fmt.Fprintf(fs.Output(), "unexpected argument %q\n", arg)
		}
		return exitUsage
	}
	if name := repeated(fs, args); name != "" {
		fmt.Fprintf(fs.Output(), "--%s is given twice: give it once\n", name)
		return exitUsage
	}
	return -1
}

// repeated names the first flag of fs that args give more than once (the
// flag package would silently keep the last).
func repeated(fs *flag.FlagSet, args []string) string {
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if seen[name] {
			return name
		}
		seen[name] = true
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // its value
		}
	}
	return ""
}
