# syntax=docker/dockerfile:1
# Balint: one static binary on distroless, running as uid 65532.
#   podman build --network host --isolation chroot -t balint .
#   docker build -t balint .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/balint ./cmd/balint \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/balint /usr/local/bin/balint
# /data holds the SQLite file when no DATABASE_URL is set; mount a volume
# there (the root file system can stay read-only).
COPY --from=build --chown=65532:65532 /out/data /data
# Production by default: EHR-signed calls only, and no start without issuers.
ENV BALINT_ADDR=:8080 \
    BALINT_DEV=false \
    BALINT_SQLITE_PATH=/data/balint.db
USER 65532:65532
EXPOSE 8080
# No HEALTHCHECK: distroless has no shell or curl. Probe GET /healthz
# (liveness) and GET /readyz (readiness) from the orchestrator; see
# deploy/kubernetes/deployment.yaml.
ENTRYPOINT ["/usr/local/bin/balint"]
