# duo-connector build, test and benchmark targets.
GO       ?= go
BIN      ?= bin
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME ?= 1s
# The release build of one Linux architecture (GOARCH set by the caller):
# static, paths trimmed, version and commit recorded.
XBUILD   = CGO_ENABLED=0 GOOS=linux $(GO) build -buildvcs=auto -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all build test bench lint fuzz soak clean install demo sandbox image package dist

all: build

build:
	$(GO) build -buildvcs=auto -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/duo-connector ./cmd/duo-connector
	$(GO) build -trimpath -o $(BIN)/duo-sandbox ./cmd/duo-sandbox

# The container image: linux/amd64 and linux/arm64 in one manifest, as
# $(BIN)/duo-connector-image.tar (an OCI archive) and in the local
# container stores (buildah's; podman's and docker's when present) as
# $(IMAGE). Needs buildah (Debian's package) and root.
IMAGE        ?= duo-connector:$(VERSION)
BUILDAH      ?= buildah $(BUILDAH_FLAGS)
BUILDAH_FLAGS ?= --storage-driver vfs
REVISION     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_CTX    := $(BIN)/image-context
image:
	rm -rf $(IMAGE_CTX) && mkdir -p $(IMAGE_CTX)/state
	for arch in amd64 arm64; do \
		GOARCH=$$arch $(XBUILD) \
			-o $(IMAGE_CTX)/bin/linux-$$arch/duo-connector ./cmd/duo-connector || exit 1; \
	done
	cp /etc/ssl/certs/ca-certificates.crt configs/container/Containerfile configs/container/passwd configs/container/group $(IMAGE_CTX)/
	-$(BUILDAH) manifest rm $(IMAGE) >/dev/null 2>&1
	$(BUILDAH) bud --quiet --isolation chroot --manifest $(IMAGE) --platform linux/amd64,linux/arm64 \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -f Containerfile $(IMAGE_CTX)
	rm -f $(BIN)/duo-connector-image.tar
	$(BUILDAH) manifest push --quiet --all $(IMAGE) oci-archive:$(BIN)/duo-connector-image.tar:$(IMAGE)
	@echo "image $(IMAGE): $(BIN)/duo-connector-image.tar, and in buildah's store"
	configs/container/load-image $(BIN)/duo-connector-image.tar $(IMAGE)

# .deb and .rpm packages for linux/amd64 and linux/arm64, in $(BIN): the
# binary, the systemd units, the system user, the example configuration
# (kept across upgrades). nfpm is a Go tool of configs/packaging's module.
PKG_ARCHES  ?= amd64 arm64
# Package versions start with a digit and hold no '-'.
PKG_VERSION ?= $(shell configs/packaging/pkg-version '$(VERSION)')
PKG_ROOT    := $(abspath $(BIN))/pkgroot
package:
	@for arch in $(PKG_ARCHES); do \
		root=$(PKG_ROOT)/$$arch; rm -rf $$root $(PKG_ROOT)/bin-$$arch; \
		GOARCH=$$arch $(XBUILD) \
			-o $(PKG_ROOT)/bin-$$arch/duo-connector ./cmd/duo-connector || exit 1; \
		$(MAKE) --no-print-directory install BIN=$(PKG_ROOT)/bin-$$arch DESTDIR=$$root PREFIX=/usr \
			SYSTEMD_UNIT_DIR=/usr/lib/systemd/system SYSUSERS_DIR=/usr/lib/sysusers.d >/dev/null || exit 1; \
		install -D -m 0644 LICENSE $$root/usr/share/doc/duo-connector/LICENSE; \
		sed -e "s|@ARCH@|$$arch|; s|@VERSION@|$(PKG_VERSION)|; s|@ROOT@|$$root|; s|@SCRIPTS@|$(abspath configs/packaging)|" \
			configs/packaging/nfpm.yaml > $$root.nfpm.yaml; \
		for fmt in deb rpm; do \
			(cd configs/packaging && $(GO) tool nfpm package --config $$root.nfpm.yaml --packager $$fmt --target $(abspath $(BIN))/) || exit 1; \
		done; \
	done
	@ls -1 $(BIN)/*.deb $(BIN)/*.rpm

# Release archives for linux/amd64 and linux/arm64 (the binary, the units,
# the example configuration, the docs), a CycloneDX SBOM of the Go
# modules and SHA256SUMS, in $(DIST). Reproducible: the same commit gives
# byte-identical files (times are the commit's, owners and order fixed).
DIST              ?= dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
dist:
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for arch in amd64 arm64; do \
		name=duo-connector_$(PKG_VERSION)_linux_$$arch; d=$(DIST)/$$name; mkdir -p $$d; \
		GOARCH=$$arch $(XBUILD) \
			-o $$d/duo-connector ./cmd/duo-connector || exit 1; \
		cp LICENSE README.md CHANGELOG.md configs/duo-connector.example.yaml configs/duo-connector.service \
			configs/duo-connector@.service configs/duo-connector.sysusers.conf $$d/; \
		chmod 0644 $$d/*; chmod 0755 $$d/duo-connector; \
		tar --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner \
			-C $(DIST) -cf - $$name | gzip -9n > $$d.tar.gz; \
		rm -rf $$d; \
	done
	@cd configs/packaging && $(GO) tool cyclonedx-gomod mod -json -noserial -notimestamp \
		-output $(abspath $(DIST))/duo-connector_$(PKG_VERSION).cdx.json ../..
	@cd $(DIST) && sha256sum *.tar.gz *.cdx.json > SHA256SUMS
	@ls -1 $(DIST)

# The first command to try: a fake Duo and a Kafka broker on loopback, the
# connector draining a day of records into it, and what came out.
demo: build
	$(BIN)/duo-sandbox --demo --connector $(BIN)/duo-connector

# The same sandbox, left running for manual use (Ctrl-C stops it).
sandbox: build
	$(BIN)/duo-sandbox

# The README's test command: every test, race detector on.
REFERENCE_CASES ?= $(or $(MAPPING_REFERENCE_CASES),$(abspath ../shared/reference/sekoia-duo-tests))
test:
	@if ls $(REFERENCE_CASES)/*.json >/dev/null 2>&1; then \
		echo "mapping v2 conformance: reference cases in $(REFERENCE_CASES)"; \
	else \
		echo "NOTICE: mapping v2 conformance cases not found in $(REFERENCE_CASES): TestConformanceV2 will SKIP (set MAPPING_REFERENCE_CASES to their folder)"; \
	fi
	MAPPING_REFERENCE_CASES=$(REFERENCE_CASES) $(GO) test -race -count=1 -timeout 20m ./...
	# The Kubernetes manifests: a module of their own (kustomize, k8s.io/api).
	cd configs/kubernetes && $(GO) test -count=1 -timeout 10m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Short fuzzing passes over every fuzz target (go test fuzzes one at a time).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./normalize
	$(GO) test -run '^$$' -fuzz '^FuzzUARulesFilter$$' -fuzztime $(FUZZTIME) ./normalize
	$(GO) test -run '^$$' -fuzz '^FuzzScanner$$' -fuzztime $(FUZZTIME) ./normalize/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeV2Page$$' -fuzztime $(FUZZTIME) ./connector/duolog
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeV1Page$$' -fuzztime $(FUZZTIME) ./connector/duolog
	$(GO) test -run '^$$' -fuzz '^FuzzRecordHash$$' -fuzztime $(FUZZTIME) ./connector/duolog
	$(GO) test -run '^$$' -fuzz '^FuzzEnvelope$$' -fuzztime $(FUZZTIME) ./connector/duo
	$(GO) test -run '^$$' -fuzz '^FuzzSkip$$' -fuzztime $(FUZZTIME) ./normalize/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzSafeRun$$' -fuzztime $(FUZZTIME) ./normalize/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzAppendQuotedUTF8$$' -fuzztime $(FUZZTIME) ./normalize
	$(GO) test -run '^$$' -fuzz '^FuzzAppendQuoted$$' -fuzztime $(FUZZTIME) ./normalize

# The kill test, longer: 200 SIGKILLs instead of 20.
SOAK_KILLS ?= 200
soak:
	SOAK_KILLS=$(SOAK_KILLS) $(GO) test -race -count=1 -timeout 120m -run 'TestKillAndRestart|TestBrokerOutage|TestClusterKillLoop' -v ./cmd/duo-connector
	SOAK_KILLS=$(SOAK_KILLS) $(GO) test -race -count=1 -timeout 10m -run 'TestKfakeKeepsMemberKilledMidJoin' -v ./checkpoint/kafkastore

# Install what `make build` built (run that first, as yourself: install
# does not build, so that `sudo make install` needs no Go in root's PATH
# and leaves no root-owned files in the tree), the systemd units, the
# system user and the example configuration.
# Packagers: make install DESTDIR=$(pwd)/pkg PREFIX=/usr
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
SYSUSERS_DIR     ?= /usr/lib/sysusers.d
CONFIG_DIR       ?= /etc/duo-connector
install:
	@test -x $(BIN)/duo-connector || { echo "$(BIN)/duo-connector is not built: run 'make build' first (as yourself), then 'sudo make install'"; exit 1; }
	install -D -m 0755 $(BIN)/duo-connector $(DESTDIR)$(PREFIX)/bin/duo-connector
	for u in duo-connector.service duo-connector@.service; do \
		install -D -m 0644 configs/$$u $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u && \
		sed -i 's|/usr/local/bin/duo-connector|$(PREFIX)/bin/duo-connector|' $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u; \
	done
	install -D -m 0644 configs/duo-connector.sysusers.conf $(DESTDIR)$(SYSUSERS_DIR)/duo-connector.conf
	test -n "$(DESTDIR)" || ! command -v systemd-sysusers >/dev/null || systemd-sysusers $(SYSUSERS_DIR)/duo-connector.conf
	install -d -m 0755 $(DESTDIR)$(CONFIG_DIR)
	test -e $(DESTDIR)$(CONFIG_DIR)/duo-connector.yaml || \
		install -m 0644 configs/duo-connector.example.yaml $(DESTDIR)$(CONFIG_DIR)/duo-connector.yaml

clean:
	rm -rf $(BIN)
