package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build is what a binary knows of its build: the version it was given and
// the commit and time the Go toolchain recorded ("" when not built from a
// checkout).
type Build struct {
	Version, Revision, Time, GoVersion string
}

// BuildOf reads the running binary's build, with version as given.
func BuildOf(version string) Build {
	b := Build{Version: version, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				if s.Value == "true" && b.Revision != "" {
					b.Revision += "-dirty"
				}
			}
		}
	}
	return b
}

// SetBuild exports duo_connector_build_info{version,revision,goversion} 1,
// so that dashboards and alerts can tell which build runs where.
func (m *Metrics) SetBuild(b Build) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "duo_connector_build_info",
		Help: "Always 1: the connector's version, the commit it was built from and its Go version, as labels.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	m.reg.MustRegister(g)
}
