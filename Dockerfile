# The canary image: one static binary and the CA certificates, nothing else
# (no shell, no package manager), running as an unprivileged user.
#
#   make image                                   # docker or podman, tagged canary:$(git describe)
#   docker build --build-arg VERSION=v1.2.0 --build-arg COMMIT=$(git rev-parse --short HEAD) -t canary .
#
# Everything a manifest runs is `canary <command> <args>` in exec form; see
# docs/deployment.md for pushing it to a registry your cluster pulls from.

# The Go toolchain matches go.mod's go directive (a test checks it).
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a change of the sources does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=none
# A static binary: no cgo, so it needs no libc in the final image. The -X
# flags are the Makefile's LDFLAGS (a test keeps them in step), so
# `canary version` prints what the image was built from.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/canaryproj/canary/cmd/canary/cli.version=${VERSION} -X github.com/canaryproj/canary/cmd/canary/cli.commit=${COMMIT}" \
      -o /out/canary ./cmd/canary
# The only writable places of the final image: a working directory for the
# daemon's default state_dir (./canary-data) and /tmp, both owned by the
# unprivileged user (there is no shell in the final image to create them).
RUN mkdir -p /out/home /out/tmp && chmod 1777 /out/tmp

FROM scratch
ARG VERSION=dev
ARG COMMIT=none
LABEL org.opencontainers.image.title="canary" \
      org.opencontainers.image.description="Canary load-tester and synthetic monitor: load tests, SLO verdicts and deployment gates" \
      org.opencontainers.image.source="https://github.com/canaryproj/canary" \
      org.opencontainers.image.documentation="https://github.com/canaryproj/canary/tree/main/docs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# TLS to targets, Slack and Alertmanager verifies against these.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/canary /usr/local/bin/canary
COPY --from=build --chown=65532:65532 /out/home /home/canary
COPY --from=build --chown=65532:65532 /out/tmp /tmp
# `kubectl exec POD -- canary version` finds it without a shell.
ENV PATH=/usr/local/bin
# 65532 is distroless' "nonroot": numeric, so that Kubernetes' runAsNonRoot
# can verify it without an /etc/passwd in the image.
USER 65532:65532
WORKDIR /home/canary
# The daemon's API and metrics (server.listen), and `canary run --metrics-addr`.
EXPOSE 9090 9464
ENTRYPOINT ["/usr/local/bin/canary"]
CMD ["--help"]
