package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// selectTrials parses a --trial selection (1-based indices as --dry-run prints them: "3",
// "2-5", "1,4,7-9") against n trials and returns the chosen 0-based indices in ascending
// order, each once. An index outside 1..n or a malformed part is an error that names it.
func selectTrials(sel string, n int) ([]int, error) {
	chosen := make([]bool, n)
	for part := range strings.SplitSeq(sel, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(strings.TrimSpace(lo))
		last := first
		if err == nil && isRange {
			last, err = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err != nil || part == "" {
			return nil, usagef("--trial %q: %q is not an index or a range like 2-5", sel, part)
		}
		if first > last {
			return nil, usagef("--trial %q: the range %q runs backwards", sel, part)
		}
		if first < 1 || last > n {
			return nil, usagef("--trial %q: %s is outside 1-%d, the trials that the spec(s) resolve to (see --dry-run)", sel, part, n)
		}
		for k := first; k <= last; k++ {
			chosen[k-1] = true
		}
	}
	var out []int
	for i, c := range chosen {
		if c {
			out = append(out, i)
		}
	}
	return out, nil
}

// trialLabel is how a trial is named in the run command's output: its index among all
// resolved trials, so that a selection prints the same numbers as --dry-run.
func trialLabel(index, total int) string { return fmt.Sprintf("%d/%d", index+1, total) }
