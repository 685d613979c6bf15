# syntax=docker/dockerfile:1
# The wharf image: one binary, `wharf`, run as uid 10001. The Helm chart (helm/wharf) runs
# `wharf core|gateway|ftp|upload` from it; `docker run IMAGE serve` runs everything at once.
#
#   docker build -t REGISTRY/wharf:0.1.0 .     (the tag: the version in Cargo.toml)
#
# Builder and runtime are both Debian 12 (bookworm), so the binary finds the same glibc.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches stay in BuildKit cache mounts, so the binary is copied out of
# target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin wharf \
    && install -D -m 0755 target/release/wharf /out/wharf \
    && mkdir -p /out/data

# distroless/cc: glibc, libgcc, CA certificates and tzdata, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12
COPY --from=build /out/wharf /usr/local/bin/wharf
# WHARF_DATA_DIR for the SQLite store of a bare `serve`; with PostgreSQL nothing is written.
COPY --from=build --chown=10001:10001 /out/data /var/lib/wharf
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    WHARF_DATA_DIR=/var/lib/wharf \
    WHARF_HTTP_ADDR=0.0.0.0:8080 \
    WHARF_UPLOAD_ADDR=0.0.0.0:8081 \
    WHARF_FTP_ADDR=0.0.0.0:2121 \
    WHARF_SFTP_ADDR=0.0.0.0:2222
WORKDIR /var/lib/wharf
USER 10001:10001
# HTTP API, upload page, FTP control, SFTP, core's gRPC and admin listener; FTP's passive
# ports (WHARF_FTP_PASSIVE_PORTS, 50000-50100 by default) must be published as well.
EXPOSE 8080 8081 2121 2222 50051 7321
ENTRYPOINT ["wharf"]
CMD ["--help"]
