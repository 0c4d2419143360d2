# Watchpost: one image for every part (agent, aggregator, alerting, statuspage, run).
#
#   docker build -t watchpost .
#   docker run --rm -v $PWD/examples/local.toml:/etc/watchpost/watchpost.toml:ro \
#     -e WATCHPOST__STORE__PATH=/var/lib/watchpost/watchpost.db -p 9090:9090 watchpost run
#
# Relative paths in a configuration resolve against its own directory (/etc/watchpost here, mounted
# read-only), so point the data at /var/lib/watchpost: absolute paths in the file (as
# examples/compose/watchpost.toml has), or the override above (the spool and the state database default to
# the store's directory).
#
# Build stage: the toolchain the project is developed with; --locked builds exactly Cargo.lock.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin watchpost \
    && strip target/release/watchpost \
    && mkdir -p /out/var/lib/watchpost

# Runtime: glibc, CA certificates and tzdata-free (time zones are compiled in), no shell, no package
# manager, running as the unprivileged `nonroot` user (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/watchpost /usr/local/bin/watchpost
# State (SQLite store, spool, state database) lives under /var/lib/watchpost: mount a volume there. The
# image's directory belongs to `nonroot`, so a new named volume does too (the runtime has no shell to chown).
COPY --from=build --chown=nonroot:nonroot /out/var/lib/watchpost /var/lib/watchpost
WORKDIR /var/lib/watchpost
ENV WATCHPOST_CONFIG=/etc/watchpost/watchpost.toml
USER nonroot:nonroot
EXPOSE 9090 8080
# The process server's /healthz (the status page alone: `watchpost healthcheck http://127.0.0.1:8080/healthz`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/watchpost", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/watchpost"]
CMD ["run"]
