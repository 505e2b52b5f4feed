# Two entry points do all set-up on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, runs the appliance on the bench-rig simulation
#   make test   installs what is missing, runs every test and static check
.PHONY: run test build lint

run:
	scripts/setup.sh run
	cargo build --locked -p vod
	scripts/bench.sh target/debug/vod

test:
	scripts/setup.sh test
	cargo test --workspace --locked --features vod/failpoints
	VOD=target/debug/vod deploy/check.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
