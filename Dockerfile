# op serve in a container: a build stage with what op's own build needs (the
# wasm32-wasip2 target and a wasm32 clang for the JS runner, Node.js for the
# JS SDK's pinned tools), and a small runtime stage that runs as a non-root
# user. The plugins' compile cache and this replica's workspaces live on
# /var/lib/op (a volume); the configuration is read from /etc/op/serve.yaml.
#
#   docker build -t op .
#   docker run -v op-data:/var/lib/op -v $PWD/serve.yaml:/etc/op/serve.yaml:ro \
#     -e OP_ADMIN_TOKEN=... -e OP_STORE_URL=postgres://... -p 8080:8080 op

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# scripts/setup installs the wasm target, clang/lld 14, wasi-libc and Node.js
# (apt) and the JS SDK's pinned npm packages, as on a developer's machine.
RUN scripts/setup && cargo build --release --locked -p op \
    && install -D target/release/op /out/op

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/op --create-home op
COPY --from=build /out/op /usr/local/bin/op
USER 10001:10001
VOLUME ["/var/lib/op"]
EXPOSE 8080 9090
ENTRYPOINT ["op", "serve", "--config", "/etc/op/serve.yaml"]
