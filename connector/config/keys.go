package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/redact"
)

// Key is one configuration key: its dotted path in the file, the
// environment variable that overrides it, its default as the file would
// write it ("" when none) and what it is for.
type Key struct {
	Path    string
	Env     string
	Default string
	Doc     string
}

// Keys lists every configuration key, in declaration order, with its
// default taken from Default: the one list that config keys prints and
// that the README's configuration table is checked against.
func Keys() []Key {
	var out []Key
	walk(reflect.ValueOf(Default()), nil, func(path []string, v reflect.Value) {
		p := strings.Join(path, ".")
		if isList(v) {
			// A list of sections: each item's keys, under path[].
			out = append(out, Key{Path: p, Doc: docs[p]})
			walk(reflect.New(v.Type().Elem()).Elem(), nil, func(item []string, iv reflect.Value) {
				ip := p + "[]." + strings.Join(item, ".")
				k := Key{Path: ip, Default: formatDefault(iv), Doc: docs[ip]}
				if ip == "accounts[].skey" {
					k.Env = AccountSecretEnv("<NAME>")
				}
				out = append(out, k)
			})
			return
		}
		out = append(out, Key{Path: p, Env: envName(path), Default: formatDefault(v), Doc: docs[p]})
	})
	return out
}

// isList reports a list of sections (accounts).
func isList(v reflect.Value) bool {
	return v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct
}

// AccountSecretEnv is the environment variable holding the secret key of
// the account named name in the accounts list: the name in capitals, any
// character but letters and digits as '_'.
func AccountSecretEnv(name string) string {
	return EnvPrefix + "ACCOUNTS_" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '<', r == '>':
			return r
		}
		return '_'
	}, name) + "_SKEY"
}

// formatDefault writes a default value as the file would.
func formatDefault(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case bool:
		return strconv.FormatBool(x)
	case redact.Secret:
		return ""
	case Duration:
		if x == 0 {
			return ""
		}
		return time.Duration(x).String()
	case time.Duration:
		if x == 0 {
			return ""
		}
		return x.String()
	case []string:
		return strings.Join(x, ",")
	}
	if v.IsZero() {
		return ""
	}
	return fmt.Sprint(v.Interface())
}

func envName(path []string) string {
	return EnvPrefix + strings.ToUpper(strings.Join(path, "_"))
}

// walk calls fn for every leaf field of a struct value, with its yaml path.
func walk(v reflect.Value, path []string, fn func([]string, reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if opts == "inline" {
			walk(fv, path, fn) // a component's configuration: its keys are the section's
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		p := append(append([]string(nil), path...), name)
		if fv.Kind() == reflect.Struct {
			walk(fv, p, fn)
			continue
		}
		fn(p, fv)
	}
}

var durationTypes = map[reflect.Type]bool{reflect.TypeFor[Duration](): true, reflect.TypeFor[time.Duration](): true}

// applyEnv sets every key whose environment variable is present.
func applyEnv(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	var errs []error
	known := map[string]bool{}
	for i := range cfg.AccountList {
		a := &cfg.AccountList[i]
		name := AccountSecretEnv(a.Name)
		known[name] = true
		if val, ok := env[name]; ok && a.Name != "" {
			a.SKey = redact.Secret(val)
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), nil, func(path []string, fv reflect.Value) {
		if isList(fv) {
			return // set in the file; their secrets above
		}
		name := envName(path)
		known[name] = true
		val, ok := env[name]
		if !ok {
			return
		}
		key := strings.Join(path, ".")
		switch {
		case durationTypes[fv.Type()]:
			d, err := ParseDuration(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %v", name, key, err))
				return
			}
			fv.SetInt(int64(d))
		case fv.Kind() == reflect.String:
			fv.SetString(val)
		case fv.Kind() == reflect.Slice:
			var items []string
			for _, s := range strings.Split(val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			fv.Set(reflect.ValueOf(items))
		case fv.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q is not true or false", name, key, val))
				return
			}
			fv.SetBool(b)
		case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q is not a whole number", name, key, val))
				return
			}
			fv.SetInt(n)
		case fv.Kind() == reflect.Float64:
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q is not a number", name, key, val))
				return
			}
			fv.SetFloat(f)
		}
	})
	for name := range env {
		if !known[name] && name != EnvPrefix+"CONFIG" {
			errs = append(errs, fmt.Errorf("environment variable %s matches no configuration key (see 'duo-connector config keys')", name))
		}
	}
	return errors.Join(errs...)
}
