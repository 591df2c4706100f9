# ddpm-runner tasks. Install just with: npm install -g rust-just

default:
    @just --list

# Build the runner binary into bin/runner.
build:
    go build -o bin/runner ./runner

# Run the test suite (the same command CI runs).
test:
    go test ./...

# Train the main experiment.
run spec="experiments/linear_beta.toml":
    go run ./runner run {{spec}}

# Training-step benchmarks of the reference models on the go backend (fast vs stock
# matmul kernel alternating, batch 128 and 512), and the matmul kernel's GFLOP/s.
bench:
    go test -run '^$' -bench . -benchtime 20x ./engine
    go test -run '^$' -bench . ./internal/fastdot

# Static checks.
lint:
    go vet ./...
    test -z "$(gofmt -l .)" || (gofmt -l . && exit 1)
