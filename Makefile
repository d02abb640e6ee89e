# The two things a new user does are in the README: build and run, and `make test`.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test clients
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o pushinator .

run: build
	./pushinator -c pushinator.example.conf

# The socket.io clients the end-to-end tests drive, from npm (package-lock.json pins them).
clients: e2e/node/node_modules/.package-lock.json
e2e/node/node_modules/.package-lock.json: e2e/node/package.json e2e/node/package-lock.json
	npm ci --prefix e2e/node --no-audit --no-fund

test: clients
	go test -race -count=1 -timeout 30m ./...
