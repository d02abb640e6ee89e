# pushinator in a container: a static binary on a distroless base, run as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t pushinator .
#   docker run -d -p 9600:9600 -p 9601:9601 \
#     -v /etc/pushinator.conf:/etc/pushinator.conf:ro pushinator
#
# The config is mounted at /etc/pushinator.conf (the image ships a minimal one). Inside the
# container both ports must listen on all interfaces (host: 0, the default), and the pidfile
# must be writable by the non-root user: set pidfile: '/tmp/pushinator.pid'. The admin port
# can message every user: publish it only where your application runs (e.g.
# -p 127.0.0.1:9600:9600), or set admin.token. A state file (storage.path) needs a volume.

# The Go release the Makefile pins (GOTOOLCHAIN), so that the image has the same standard
# library fixes.
ARG GO_VERSION=1.26.10

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first: their layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not sent to the builder (.dockerignore), so the version comes as a build argument.
ARG VERSION=dev
# Static (no cgo: runs on a base without libc), stripped, reproducible paths, version stamped;
# the same flags as `make build`.
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/pushinator . \
 && printf '%s\n' \
    "// Default config of the container image; mount your own at /etc/pushinator.conf." \
    "module.exports = {" \
    "	pidfile: '/tmp/pushinator.pid'," \
    "	admin: { host: 0, port: 9600 }," \
    "	client: { host: 0, port: 9601 }," \
    "}" > /out/pushinator.conf \
 && /out/pushinator check -c /out/pushinator.conf

# distroless/static: CA certificates, tzdata, /etc/passwd with the nonroot user (65532), /tmp;
# no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pushinator /usr/local/bin/pushinator
COPY --from=build /out/pushinator.conf /etc/pushinator.conf
USER nonroot:nonroot
# 9600: admin API (keep private), 9601: socket.io clients.
EXPOSE 9600 9601
# SIGTERM (docker stop) shuts down gracefully within 10 s: clients are told to reconnect.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/pushinator", "status", "-c", "/etc/pushinator.conf"]
# In the foreground, logging to stdout (docker logs).
ENTRYPOINT ["/usr/local/bin/pushinator"]
CMD ["-c", "/etc/pushinator.conf"]
