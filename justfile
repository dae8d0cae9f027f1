# Conveniences for people; CI runs .ci/run with cargo alone.

default:
    @just --list

# Serve on the embedded SQLite default (http://127.0.0.1:9999/auth/v1).
run *ARGS:
    cargo run -p authd -- {{ARGS}}

# The whole test suite (PostgreSQL tests use AUTHD_TEST_DATABASE_URL or a private cluster).
test:
    cargo test --workspace

# Lints exactly as CI runs them.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all --check

# The layering rules on the dependency graph, as CI checks them (no build).
layering:
    .ci/layering

# Format the code.
fmt:
    cargo fmt --all

# The deployment files (`--release` also runs the container image's build stage).
deploy-check *ARGS:
    deploy/check {{ARGS}}

# The deployment files, then the image and the compose stack run for real under podman (as root).
deploy-run:
    deploy/check --run

# Everything CI does, locally.
ci:
    bash .ci/run

# Benchmarks a release build against this machine's limits (docs/benchmarks.md); ARGS such as
# `--seconds 5 --backends postgres`. Never part of the test suite.
bench *ARGS:
    cargo build --release -p authd
    cargo run --release -p authd-bench -- {{ARGS}}

# The auth-js end-to-end suite on SQLite (and PostgreSQL with AUTHD_E2E_DATABASE_URL).
e2e:
    cargo build -p authd
    cd tests/e2e && npm ci --no-audit --no-fund && npm test

# Runs every fuzz target for SECONDS each (default 60), or only TARGETS. Needs `cargo install
# cargo-fuzz`; RUSTC_BOOTSTRAP lets the stable toolchain take cargo-fuzz's nightly flags. Not
# part of CI. Crashes land in fuzz/artifacts/<target>/ (`cargo fuzz run <target> <file>` replays).
fuzz SECONDS="60" *TARGETS:
    #!/usr/bin/env bash
    set -euo pipefail
    cd fuzz
    targets="{{TARGETS}}"
    [ -n "$targets" ] || targets="$(RUSTC_BOOTSTRAP=1 cargo fuzz list)"
    for target in $targets; do
        echo "== fuzz $target for {{SECONDS}} s"
        RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --sanitizer none --debug-assertions \
            --target-dir "${CARGO_TARGET_DIR:-../target}/fuzz" -- \
            -max_total_time={{SECONDS}} -max_len=4096 -timeout=10 -rss_limit_mb=2048
    done
