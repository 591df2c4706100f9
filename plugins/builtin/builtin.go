// Package builtin registers every plugin that ships with ddpm-runner. Its only job is its
// imports: a program (or a test) that wants the whole set blank-imports it, as a database/sql
// program blank-imports its driver.
//
//	import _ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
package builtin

import (
	_ "github.com/ddpm-runner/ddpm-runner/datasets"
	_ "github.com/ddpm-runner/ddpm-runner/losses"
	_ "github.com/ddpm-runner/ddpm-runner/metrics"
	_ "github.com/ddpm-runner/ddpm-runner/networks"
	_ "github.com/ddpm-runner/ddpm-runner/predictors"
	_ "github.com/ddpm-runner/ddpm-runner/samplers"
	_ "github.com/ddpm-runner/ddpm-runner/schedules"
)
