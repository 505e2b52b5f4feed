# syntax=docker/dockerfile:1
# The appliance image: the `vod` binary on Debian 12 with the runtime libraries it links
# (OpenCV, Aravis, libusb) and the ONNX Runtime library it loads through ORT_DYLIB_PATH.
# The `emulators` stage is the bench rig's scanner emulator and fake GigE camera. Build from
# the repository root (BuildKit needed for the cache mounts):
#   docker build -f docker/vod.Dockerfile -t vod .
#   docker build -f docker/vod.Dockerfile --target emulators -t vod-emulators .

# Rust 1.94 is the floor: sqlx 0.9 in Cargo.lock declares rust-version 1.94.
FROM rust:1.95.0-bookworm AS builder
WORKDIR /src

# scripts/setup.sh is the one list of build packages (OpenCV, Aravis, libusb and libclang
# -dev packages) and fetches the ONNX Runtime library from its PyPI wheel into .tools/.
# Copied alone first so that this slow layer survives source changes.
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh run

COPY . .
# target/ is a cache mount, so the binary is copied out of it within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git/db \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vod \
    && install -D -m 0755 target/release/vod /out/vod


# The bench rig's emulators, built with `--target emulators`: the scanner emulator (`vod sim
# lidar`, the default command) and Aravis's fake GigE Vision camera (`arv-fake-gv-camera-0.8`
# from aravis-tools), without models or ONNX Runtime. Before the appliance's stage, so that a
# build without --target still makes the appliance.
FROM debian:bookworm-slim AS emulators
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        aravis-tools \
        libaravis-0.8-0 \
        libopencv-imgcodecs406 \
        libopencv-imgproc406 \
        libusb-1.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin vod
COPY --from=builder /out/vod /usr/local/bin/vod
# CoLa-B (the scanner emulator); GigE Vision control and discovery (the fake camera).
EXPOSE 2112 3956/udp
USER 10001:10001
ENTRYPOINT ["vod"]
CMD ["sim", "lidar", "--listen", "0.0.0.0:2112"]


FROM debian:bookworm-slim AS runtime

# Runtime libraries only: the -dev packages' runtime halves (OpenCV 4.6, Aravis 0.8.26),
# ca-certificates for TLS to the cloud and webhooks, curl for the health check.
# Versions are not pinned: bookworm is a stable release whose only changes are security
# fixes, and Debian's mirrors drop superseded versions, so pins would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        curl \
        libaravis-0.8-0 \
        libopencv-imgcodecs406 \
        libopencv-imgproc406 \
        libusb-1.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/vod \
        --shell /usr/sbin/nologin vod \
    && install -d -o vod -g vod -m 0750 /var/lib/vod

# ort is built with load-dynamic: the library's version must match the ort crate's API
# exactly, which is why it comes from the pinned wheel and not from a distribution package.
COPY --from=builder /src/.tools/onnxruntime/libonnxruntime.so.1.31.1 /usr/local/lib/onnxruntime/
COPY --from=builder /out/vod /usr/local/bin/vod
COPY --from=builder /src/models /usr/local/share/vod/models
ENV ORT_DYLIB_PATH=/usr/local/lib/onnxruntime/libonnxruntime.so.1.31.1

# vod.db and the image files ([storage].data_dir in the config).
VOLUME ["/var/lib/vod"]
WORKDIR /var/lib/vod
# Web UI, /healthz and /readyz ([web].listen); Prometheus /metrics ([metrics].listen).
EXPOSE 8080 9100
USER 10001:10001

# Liveness only (/readyz also says whether the store is writable, which is for the operator,
# not a reason to restart). Assumes [web].listen on port 8080, as in deploy/bench. Docker
# counts any non-zero exit as a failed check, so curl's own codes (7, 22, 28) are fine.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "--max-time", "4", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]

ENTRYPOINT ["vod"]
CMD ["run", "--config", "/etc/vod/vod.toml"]
