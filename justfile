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

# The comparison with PyTorch (`runner bench`: fast vs stock paths alternating, the MLP at
# batch 128 and 512, the U-Net at 32), then the training-step benchmarks of the reference
# models and the matmul kernel's GFLOP/s.
bench:
    go run ./runner bench --db /tmp/ddpm-bench.db
    go test -run '^$' -bench . -benchtime 20x ./bench
    go test -run '^$' -bench . ./internal/gokernels

# Static checks.
lint:
    go vet ./...
    test -z "$(gofmt -l .)" || (gofmt -l . && exit 1)
