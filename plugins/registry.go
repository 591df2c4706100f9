package plugins

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Plugin describes one registered plugin: what it is called, what it does, the parameters it
// takes and how to build it from resolved parameter values.
type Plugin struct {
	Kind   Kind
	Name   string
	Doc    string
	Params []Param
	// New builds the plugin from parameters that have already been validated against Params
	// and filled with defaults. It is a func(Values) (X, error) whose X implements the
	// kind's contract (KindInfo.Contract): a Schedule for KindSchedule, and so on. Register
	// checks this, so a wrong type shows at start-up rather than in the middle of a run.
	New any
	// Reports declares, for a metric, every value it reports (see Report).
	Reports []Report
	// Shape, for a dataset that reads files, says from its parameters alone what New would
	// build, without opening anything: `runner run --dry-run` then resolves its trials (the
	// networks' sizes, the memory estimate) where the files are absent. Nil for a dataset
	// that New builds without files, or whose shape needs them.
	Shape func(Values) (DataShape, error)

	build func(Values) (any, error)
}

// Better says which way a reported value improves.
type Better string

// The directions of Report.Better.
const (
	LowerIsBetter  Better = "lower"
	HigherIsBetter Better = "higher"
	// NotRanked marks context values (a data floor, a breakdown) that no group should win.
	NotRanked Better = ""
)

// Report declares one value a metric reports: the report ranks groups by it and labels its
// axis from it, compares it where what it comes from allows, `runner rerun --verify`
// reproduces it unless it measures the machine, and `runner plugins metric` prints it.
type Report struct {
	Key    string
	Better Better
	Unit   string
	Doc    string
	// From says what the value is computed from; a metric must say it (see Source).
	From Source
	// PerExampleBound is set for a value that is the mean over the held-out examples of the
	// variational bound the engine records for each of them (results.BoundExamplesArtifact,
	// in nats per dimension): the factor from those nats to the value's unit (1, or 1/ln 2
	// for bits). The report then also compares two groups example by example. 0 for any
	// other value.
	PerExampleBound float64
}

// Source says what a recorded value is computed from: what else a comparison of two runs'
// values depends on, and whether a rerun must give it bit for bit.
type Source string

// The sources of Report.From.
const (
	// FromSamples: the samples drawn with the run's sampler, measured against held-out data
	// (through the featurizer the metric notes, if any). The value changes with the sampler,
	// so the report draws it against NFE; two runs' values are compared only when they used
	// as many samples and held-out examples, and the same featurizer.
	FromSamples Source = "samples"
	// FromWeights: the trained weights alone, on held-out data (the bound), whatever the
	// sampler; two runs' values are compared only on as many held-out examples.
	FromWeights Source = "weights"
	// FromMachine: the speed of the machine that ran it. A rerun does not reproduce it, so
	// rerun --verify does not compare it and report diff leaves it out of its verdicts.
	FromMachine Source = "machine"
	// FromRun: the trial itself (its training, its sampler's cost, its chain), which decides
	// it alone.
	FromRun Source = "run"
)

// sources are the valid values of Report.From.
var sources = []Source{FromSamples, FromWeights, FromMachine, FromRun}

// Param returns the declared parameter with the given name.
func (p *Plugin) Param(name string) (Param, bool) {
	for _, d := range p.Params {
		if d.Name == name {
			return d, true
		}
	}
	return Param{}, false
}

// ParamNames lists the plugin's parameter names in declaration order.
func (p *Plugin) ParamNames() []string {
	names := make([]string, len(p.Params))
	for i, d := range p.Params {
		names[i] = d.Name
	}
	return names
}

var (
	mu       sync.RWMutex
	registry = map[Kind]map[string]*Plugin{}
)

// Register adds a plugin to the registry. It is meant to be called from init functions and
// panics on a duplicate name, an empty name, an undeclared kind, a constructor whose result
// does not implement the kind's contract, a parameter declared twice, or a default that its
// own declaration rejects: all of these are programming errors that must show at start-up.
func Register(p Plugin) {
	if err := check(&p); err != nil {
		panic("plugins: " + err.Error())
	}
	mu.Lock()
	defer mu.Unlock()
	if registry[p.Kind] == nil {
		registry[p.Kind] = map[string]*Plugin{}
	}
	if _, dup := registry[p.Kind][p.Name]; dup {
		panic(fmt.Sprintf("plugins: Register called twice for %s %q", p.Kind, p.Name))
	}
	cp := p
	registry[p.Kind][p.Name] = &cp
}

// Names returns the registered plugin names of a kind, sorted.
func Names(kind Kind) []string {
	mu.RLock()
	defer mu.RUnlock()
	names := slices.Sorted(maps.Keys(registry[kind]))
	return names
}

// Lookup finds a registered plugin. An unknown name gives an error that lists the registered
// names and the closest match.
func Lookup(kind Kind, name string) (*Plugin, error) {
	mu.RLock()
	p, ok := registry[kind][name]
	mu.RUnlock()
	if ok {
		return p, nil
	}
	names := Names(kind)
	if len(names) == 0 {
		return nil, fmt.Errorf("unknown %s %q: no %s plugins are registered", kind, name, kind)
	}
	msg := fmt.Sprintf("unknown %s %q (registered: %s)", kind, name, strings.Join(names, ", "))
	if best := Closest(name, names); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return nil, fmt.Errorf("%s", msg)
}

// Build looks a plugin up, checks and completes the given raw parameter values, and calls its
// constructor. It is a convenience for code that builds plugins outside a spec (tests, the
// schedule command).
func Build(kind Kind, name string, raw map[string]any) (any, error) {
	p, err := Lookup(kind, name)
	if err != nil {
		return nil, err
	}
	vals, err := p.Resolve(raw)
	if err != nil {
		return nil, err
	}
	return p.Build(vals)
}

// Build calls the plugin's constructor with resolved parameter values.
func (p *Plugin) Build(vals Values) (any, error) { return p.build(vals) }

// Resolve checks raw parameter values against the declarations and fills in defaults. Its
// error, for the first bad key in sorted order, is a *ParamError.
func (p *Plugin) Resolve(raw map[string]any) (Values, error) {
	vals := Values{}
	keys := slices.Sorted(maps.Keys(raw))
	for _, k := range keys {
		d, ok := p.Param(k)
		if !ok {
			return nil, &ParamError{Kind: p.Kind, Plugin: p.Name, Key: k, Valid: p.ParamNames()}
		}
		cv, err := d.Check(raw[k])
		if err != nil {
			return nil, &ParamError{Kind: p.Kind, Plugin: p.Name, Key: k, Err: err}
		}
		vals[k] = cv
	}
	for _, d := range p.Params {
		if _, ok := vals[d.Name]; !ok {
			vals[d.Name] = d.Default
		}
	}
	return vals, nil
}

// ParamError is a problem with one key given to a plugin: a key it does not take (Err nil;
// Valid lists the keys it does take) or a value that the key's declaration rejects (Err).
type ParamError struct {
	Kind   Kind
	Plugin string
	Key    string
	Valid  []string
	Err    error
}

func (e *ParamError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %q: key %q: %v", e.Kind, e.Plugin, e.Key, e.Err)
	}
	return fmt.Sprintf("unknown key %q for %s %q (%s takes: %s)%s", e.Key, e.Kind, e.Plugin, e.Plugin,
		strings.Join(e.Valid, ", "), e.Suggestion())
}

// Suggestion is "; did you mean ..." with the valid key closest to an unknown one, or "".
func (e *ParamError) Suggestion() string {
	if e.Err == nil {
		if best := Closest(e.Key, e.Valid); best != "" {
			return fmt.Sprintf("; did you mean %q?", best)
		}
	}
	return ""
}

// Closest returns the candidate nearest to s by edit distance, or "" when none is close
// enough to be a plausible typo (more than half of the longer string would have to change).
func Closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(len(s), len(best))/2 + 1
	if bestD > limit {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
