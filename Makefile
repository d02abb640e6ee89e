# The two things a new user does are in the README: `make run` and `make test`.
#
# Go: the standard library of go1.26.10 fixes vulnerabilities that go1.26.8 has (govulncheck
# reports them), so builds and tests use that toolchain; the go command fetches it from the
# module proxy on first use.
export GOTOOLCHAIN := go1.26.10
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" when a duration runs out (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 20000x

.PHONY: build run test deps fuzz-smoke vulncheck
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o pushinator .

run: build
	./pushinator -c pushinator.example.conf

# What the tests need beyond Go: the npm socket.io clients (package-lock.json pins them), and
# Debian's chromium and python3-socketio.
deps:
	scripts/test-deps.sh

# One package at a time (-p 1): the end-to-end and client tests run real processes with short
# timeouts, and two packages' worth of them on 2 cores under -race makes for flaky timing.
test: deps
	go test -race -count=1 -p 1 -timeout 40m ./...

# Every fuzz target for FUZZTIME each, on top of its committed corpus (testdata/fuzz).
fuzz-smoke:
	@set -e; for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg > /tmp/fuzz-$$f.log 2>&1 || { cat /tmp/fuzz-$$f.log; exit 1; }; \
	  done; \
	done

# govulncheck against the Go vulnerability database, built locally from the
# golang.org/x/vulndb module (the database's web address is not reachable from CI).
vulncheck:
	@test -d .vulndb || go run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) \
	  -vulns $$(go mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/.*"Dir": "\(.*\)",/\1/p')/data/osv -out .vulndb
	go run golang.org/x/vuln/cmd/govulncheck@v1.9.0 -db file://$(CURDIR)/.vulndb ./...
