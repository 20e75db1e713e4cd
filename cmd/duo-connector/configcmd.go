package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/duo-connector/duo-connector/connector/app"
	"github.com/duo-connector/duo-connector/connector/config"
)

func runConfig(args []string, e env) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "keys") {
		fmt.Fprint(e.stderr, `Usage: duo-connector config check --config FILE
       duo-connector config keys

check validates the configuration, then makes one signed Duo request and
one Kafka metadata request, and says in plain words what works and what
does not. keys lists every configuration key with its environment variable,
default and meaning.
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "duo-connector config: unknown subcommand %q\n", args[0])
		}
		return exitUsage
	}
	if args[0] == "keys" {
		return printKeys(e)
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, e, "config check")
	if !ok {
		fmt.Fprintln(e.stdout, "configuration: FAILED (see above)")
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "configuration: ok (%s)\n", *cfgPath)
	code := exitOK
	for _, f := range app.CheckConfig(context.Background(), cfg) {
		fmt.Fprintln(e.stdout, f)
		if !f.OK() {
			code = exitFailure
		}
	}
	return code
}

// printKeys lists every key, its environment variable, its default and
// its meaning.
func printKeys(e env) int {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tENVIRONMENT VARIABLE\tDEFAULT\tMEANING")
	for _, k := range config.Keys() {
		def := k.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Path, k.Env, def, strings.ReplaceAll(k.Doc, "`", ""))
	}
	tw.Flush()
	return exitOK
}
