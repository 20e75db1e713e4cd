// Package kubernetes_test checks the Kubernetes manifests offline: every
// overlay builds with kustomize, every object decodes strictly into its
// Kubernetes API type (an unknown or misspelled field fails), the
// configuration in each ConfigMap passes the connector's own validation,
// and the probes ask the connector's port and paths. It is a module of
// its own, so that the connector's go.mod stays free of Kubernetes.
package kubernetes_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/metrics"
)

// serviceMonitor is the Prometheus Operator's ServiceMonitor, as far as
// the overlay uses it (a CRD: not in k8s.io/api).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// built is an overlay's objects, decoded.
type built struct {
	deployments  []*appsv1.Deployment
	cronJobs     []*batchv1.CronJob
	configMaps   []*corev1.ConfigMap
	services     []*corev1.Service
	pvcs         []*corev1.PersistentVolumeClaim
	pdbs         []*policyv1.PodDisruptionBudget
	monitors     []*serviceMonitor
	serviceAccts []*corev1.ServiceAccount
}

func build(t *testing.T, overlay string) built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build overlays/%s: %v", overlay, err)
	}
	var b built
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch r.GetKind() {
		case "Deployment":
			o := new(appsv1.Deployment)
			b.deployments, obj = append(b.deployments, o), o
		case "CronJob":
			o := new(batchv1.CronJob)
			b.cronJobs, obj = append(b.cronJobs, o), o
		case "ConfigMap":
			o := new(corev1.ConfigMap)
			b.configMaps, obj = append(b.configMaps, o), o
		case "Service":
			o := new(corev1.Service)
			b.services, obj = append(b.services, o), o
		case "PersistentVolumeClaim":
			o := new(corev1.PersistentVolumeClaim)
			b.pvcs, obj = append(b.pvcs, o), o
		case "PodDisruptionBudget":
			o := new(policyv1.PodDisruptionBudget)
			b.pdbs, obj = append(b.pdbs, o), o
		case "ServiceMonitor":
			o := new(serviceMonitor)
			b.monitors, obj = append(b.monitors, o), o
		case "ServiceAccount":
			o := new(corev1.ServiceAccount)
			b.serviceAccts, obj = append(b.serviceAccts, o), o
		default:
			t.Fatalf("overlays/%s: an object of kind %s the test does not know", overlay, r.GetKind())
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("overlays/%s: %s %s does not decode strictly: %v", overlay, r.GetKind(), r.GetName(), err)
		}
	}
	return b
}

// connectorConfig loads the ConfigMap's config.yaml with the connector's
// own loader (the Secret's file replaced by a local one).
func connectorConfig(t *testing.T, overlay string, cms []*corev1.ConfigMap) config.Config {
	t.Helper()
	if len(cms) != 1 || cms[0].Data["config.yaml"] == "" {
		t.Fatalf("overlays/%s: want one ConfigMap with config.yaml, have %d", overlay, len(cms))
	}
	dir := t.TempDir()
	skey := filepath.Join(dir, "skey")
	os.WriteFile(skey, []byte("not-a-real-secret\n"), 0o600)
	text := strings.ReplaceAll(cms[0].Data["config.yaml"], "/run/secrets/duo/skey", skey)
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(text), 0o600)
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("overlays/%s: the configuration does not pass the connector's validation: %v", overlay, err)
	}
	return cfg
}

// checkPod checks a pod template against the configuration: hardened,
// the secret and configuration mounted where the configuration says, the
// probes on the connector's port and paths.
func checkPod(t *testing.T, overlay string, pod corev1.PodSpec, cfg config.Config, probes bool) {
	t.Helper()
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("overlays/%s: the pod must run as non-root uid 65532 (the image's user)", overlay)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("overlays/%s: the pod mounts a service account token it does not need", overlay)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("overlays/%s: %d containers, want 1", overlay, len(pod.Containers))
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("overlays/%s: the container must have a read-only root, no privilege escalation, and drop ALL capabilities", overlay)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("overlays/%s: the container has no memory request or limit", overlay)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/etc/duo-connector"] == "" || !strings.Contains(strings.Join(c.Args, " "), "--config /etc/duo-connector/config.yaml") {
		t.Errorf("overlays/%s: the configuration is not mounted where the arguments read it: %v %v", overlay, c.Args, mounts)
	}
	if !strings.HasPrefix(cfg.Duo.SKeyFile, "/") || mounts[filepath.Dir(cfg.Duo.SKeyFile)] == "" {
		// connectorConfig replaced the path: check the original mount.
		if mounts["/run/secrets/duo"] == "" {
			t.Errorf("overlays/%s: the Duo secret key file is not mounted", overlay)
		}
	}
	if !probes {
		return
	}
	_, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("overlays/%s: http.listen %q: %v", overlay, cfg.HTTP.Listen, err)
	}
	if len(c.Ports) != 1 || fmt.Sprint(c.Ports[0].ContainerPort) != port {
		t.Errorf("overlays/%s: container port %v, but the connector listens on %s", overlay, c.Ports, cfg.HTTP.Listen)
	}
	// The paths must be the connector's: its handler answers them (200
	// or 503), not 404.
	h := metrics.New().Handler(metrics.Health{Interval: time.Minute})
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("overlays/%s: no HTTP %s probe", overlay, name)
			continue
		}
		if p.HTTPGet.Port.String() != c.Ports[0].Name && p.HTTPGet.Port.String() != port {
			t.Errorf("overlays/%s: the %s probe asks port %s", overlay, name, p.HTTPGet.Port.String())
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.HTTPGet.Path, nil))
		if rec.Code == http.StatusNotFound {
			t.Errorf("overlays/%s: the %s probe asks %s, which the connector does not serve", overlay, name, p.HTTPGet.Path)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("overlays/%s: liveness must be /healthz (readiness fails while Duo or Kafka do, which a restart does not fix)", overlay)
	}
}

func TestSingle(t *testing.T) {
	b := build(t, "single")
	cfg := connectorConfig(t, "single", b.configMaps)
	if len(b.deployments) != 1 || len(b.pvcs) != 1 || len(b.services) != 1 {
		t.Fatalf("want a Deployment, a PVC and a Service: %d, %d, %d", len(b.deployments), len(b.pvcs), len(b.services))
	}
	d := b.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("single: one replica, Recreate (never two on one state directory)")
	}
	if cfg.Checkpoint.Store == "kafka" {
		t.Errorf("single: the configuration is in cluster mode")
	}
	pod := d.Spec.Template.Spec
	checkPod(t, "single", pod, cfg, true)
	state := ""
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.MountPath == cfg.StateDir {
			state = m.Name
		}
	}
	claimed := false
	for _, v := range pod.Volumes {
		if v.Name == state && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == b.pvcs[0].Name {
			claimed = true
		}
	}
	if !claimed {
		t.Errorf("single: state_dir %s is not on the PersistentVolumeClaim", cfg.StateDir)
	}
	checkSelectors(t, "single", d, b.services[0])
}

func TestCluster(t *testing.T) {
	b := build(t, "cluster")
	cfg := connectorConfig(t, "cluster", b.configMaps)
	if cfg.Checkpoint.Store != "kafka" {
		t.Errorf("cluster: checkpoint.store is %q, want kafka", cfg.Checkpoint.Store)
	}
	if len(b.deployments) != 1 || len(b.pdbs) != 1 || len(b.pvcs) != 0 {
		t.Fatalf("want a Deployment, a PodDisruptionBudget and no volume claim: %d, %d, %d", len(b.deployments), len(b.pdbs), len(b.pvcs))
	}
	d := b.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("cluster: want 3 replicas")
	}
	pod := d.Spec.Template.Spec
	checkPod(t, "cluster", pod, cfg, true)
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil && v.Secret == nil {
			t.Errorf("cluster: volume %s: cluster mode keeps no state on a volume", v.Name)
		}
	}
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Errorf("cluster: the processes are not spread across nodes")
	}
	if sel := b.pdbs[0].Spec.Selector; sel == nil || sel.MatchLabels["app.kubernetes.io/name"] != "duo-connector" {
		t.Errorf("cluster: the PodDisruptionBudget selects no connector pod")
	}
	checkSelectors(t, "cluster", d, b.services[0])
}

func TestCronJob(t *testing.T) {
	b := build(t, "cronjob")
	cfg := connectorConfig(t, "cronjob", b.configMaps)
	if cfg.Checkpoint.Store != "kafka" {
		t.Errorf("cronjob: one-shot runs without a volume keep their cursors in the state topic: checkpoint.store is %q", cfg.Checkpoint.Store)
	}
	if len(b.cronJobs) != 1 {
		t.Fatalf("want a CronJob, have %d", len(b.cronJobs))
	}
	cj := b.cronJobs[0]
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("cronjob: runs may overlap")
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	checkPod(t, "cronjob", pod, cfg, false)
	if args := strings.Join(pod.Containers[0].Args, " "); !strings.HasPrefix(args, "run --once") {
		t.Errorf("cronjob: args %q, want run --once", args)
	}
}

func TestServiceMonitor(t *testing.T) {
	b := build(t, "servicemonitor")
	if len(b.monitors) != 1 || len(b.services) != 1 {
		t.Fatalf("want a ServiceMonitor and a Service: %d, %d", len(b.monitors), len(b.services))
	}
	sm, svc := b.monitors[0], b.services[0]
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the Service does not carry", k, v)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("the ServiceMonitor scrapes %+v, not the Service's port %s at /metrics", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
}

// checkSelectors: the Deployment's selector matches its pods, and the
// Service's selects them.
func checkSelectors(t *testing.T, overlay string, d *appsv1.Deployment, svc *corev1.Service) {
	t.Helper()
	pods := d.Spec.Template.Labels
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Fatalf("overlays/%s: the Deployment has no selector", overlay)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if pods[k] != v {
			t.Errorf("overlays/%s: the Deployment's selector %s=%s does not match its pods", overlay, k, v)
		}
	}
	for k, v := range svc.Spec.Selector {
		if pods[k] != v {
			t.Errorf("overlays/%s: the Service's selector %s=%s does not match the pods", overlay, k, v)
		}
	}
}

// TestStrictDecodingCatchesTypos: the strict decoding the tests rely on
// refuses a misspelled field.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	doc := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 3\n")
	if err := yaml.UnmarshalStrict(doc, new(appsv1.Deployment)); err == nil || !bytes.Contains([]byte(err.Error()), []byte("replica")) {
		t.Errorf("a misspelled field was accepted: %v", err)
	}
}
