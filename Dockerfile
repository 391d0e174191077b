# moat in a container: a release build on the Rust image, run from a slim
# Debian image as an unprivileged user.
#
#   docker build -t moat .
#   docker run --rm -v "$PWD/moat.yaml:/etc/moat/moat.yaml:ro" -p 127.0.0.1:8080:8080 moat
#
# The config is read from $MOAT_CONFIG (/etc/moat/moat.yaml); secrets are
# referenced from it (`${env:…}`, `${file:…}`), never baked into the image.
# examples/cluster/docker-compose.yml runs three nodes of it.

FROM rust:1-bookworm AS build
WORKDIR /src
# The manifests first, so that the dependencies are fetched in a layer of
# their own, reused while only moat's sources change.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY console console
COPY examples/bookstore examples/bookstore
RUN cargo build --release --locked -p moat \
 && install -D -m 0755 target/release/moat /out/moat

FROM debian:bookworm-slim
# ca-certificates: the system roots that upstream, JWKS, OIDC, webhook,
# PostgreSQL and Redis connections verify against (unless a private CA is
# configured).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 moat \
 && useradd --system --uid 10001 --gid moat --home-dir /nonexistent --shell /usr/sbin/nologin moat \
 && install -d -o moat -g moat -m 0700 /var/lib/moat
COPY --from=build /out/moat /usr/local/bin/moat
USER 10001:10001
WORKDIR /var/lib/moat
ENV MOAT_CONFIG=/etc/moat/moat.yaml
# 8080: client traffic; 9901: the admin listener (health, readiness,
# metrics, admin API, console), as the config binds them.
EXPOSE 8080 9901
# No HEALTHCHECK here: the image has neither curl nor wget, and the admin
# address (and whether it speaks TLS) is the config's. The orchestrator
# probes /readyz and /healthz on the admin listener instead
# (examples/cluster: docker-compose.yml, kubernetes/deployment.yaml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/moat"]
CMD ["serve"]
