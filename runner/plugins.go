package main

// The built-in plugin families. Each registers its plugins in init, as database/sql drivers
// do; adding a family (or your own plugin package) is one more blank import here.
import (
	_ "github.com/ddpm-runner/ddpm-runner/datasets"
	_ "github.com/ddpm-runner/ddpm-runner/losses"
	_ "github.com/ddpm-runner/ddpm-runner/metrics"
	_ "github.com/ddpm-runner/ddpm-runner/networks"
	_ "github.com/ddpm-runner/ddpm-runner/predictors"
	_ "github.com/ddpm-runner/ddpm-runner/samplers"
	_ "github.com/ddpm-runner/ddpm-runner/schedules"
)
