# syntax=docker/dockerfile:1
# One image for every Decision Layer binary; the container's command picks it:
#   dl-worker | dl-projector | dl-explainer | dl-auditor | dl-gateway | dl-agent | dlctl <args>
# Build: docker build -t decisionlayer:local .   (docker-compose.yml does this)

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# librdkafka is compiled from source by rdkafka-sys (needs make, a C compiler and zlib headers,
# all present in the rust:1-bookworm image). The caches keep the registry and the target folder
# between builds; the binaries are copied out of the cached target folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
    && mkdir -p /out \
    && cp target/release/dl-worker target/release/dl-projector target/release/dl-explainer target/release/dl-auditor target/release/dl-gateway target/release/dl-agent target/release/dlctl /out/

FROM debian:bookworm-slim
# ca-certificates: TLS to brokers, KMS and identity providers; curl: the container healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin dl \
    && install -d -m 0700 -o dl /var/lib/decisionlayer/signer
COPY --from=builder /out/dl-worker /out/dl-projector /out/dl-explainer /out/dl-auditor /out/dl-gateway /out/dl-agent /out/dlctl /usr/local/bin/
WORKDIR /app
# Example function packages (to release with `dlctl function publish ...`) and the Kafka
# topology (dlctl topology apply --file).
COPY examples/ /app/examples/
COPY topology/ /app/topology/
USER dl
# The services listen on DL_METRICS_ADDR for /metrics, /healthz and /readyz.
EXPOSE 8080 8090 9101 9102 9103 9104 9105 9106
CMD ["dl-worker"]
