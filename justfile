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

# Training-step benchmarks of the reference MLPs on the go backend.
bench:
    go test -run '^$' -bench . -benchtime 20x ./engine

# Static checks.
lint:
    go vet ./...
    test -z "$(gofmt -l .)" || (gofmt -l . && exit 1)
