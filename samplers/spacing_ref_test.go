package samplers

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// spacingCase is one (T, K) of testdata/spacing.json, written by testdata/gen_spacing.py from
// improved-diffusion's own space_timesteps and numpy.
type spacingCase struct {
	T, K              int
	ImprovedDiffusion []int `json:"improved_diffusion"`
	NumpyLinspace     []int `json:"numpy_linspace_round"`
	DDIM              []int `json:"ddim"` // nil where no integer stride gives exactly K steps
}

func readSpacingCases(t *testing.T) []spacingCase {
	t.Helper()
	b, err := os.ReadFile("testdata/spacing.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []spacingCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 34 {
		t.Fatalf("%d cases in testdata/spacing.json, want the 34 (T, K) with K <= T", len(cases))
	}
	return cases
}

// TestLinspaceIsImprovedDiffusions: linspace (and so respaced) keeps exactly the timesteps
// improved-diffusion's space_timesteps keeps for one section, for every T and K of the fixture.
func TestLinspaceIsImprovedDiffusions(t *testing.T) {
	for _, c := range readSpacingCases(t) {
		got, err := Timesteps(c.T, c.K, SpacingLinspace)
		if err != nil {
			t.Fatalf("T=%d K=%d: %v", c.T, c.K, err)
		}
		if !slices.Equal(got, c.ImprovedDiffusion) {
			t.Errorf("T=%d K=%d: linspace %v,\nimproved-diffusion keeps %v", c.T, c.K, got, c.ImprovedDiffusion)
		}
	}
}

// TestDDIMSpacingIsImprovedDiffusions: the ddim spacing keeps what improved-diffusion's
// "ddimK" keeps, and is refused where the reference raises; it is leading wherever K divides T.
func TestDDIMSpacingIsImprovedDiffusions(t *testing.T) {
	differ := 0
	for _, c := range readSpacingCases(t) {
		got, err := Timesteps(c.T, c.K, SpacingDDIM)
		if c.DDIM == nil {
			if err == nil {
				t.Errorf("T=%d K=%d: ddim spacing %v, improved-diffusion finds no stride", c.T, c.K, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.DDIM) {
			t.Errorf("T=%d K=%d: ddim spacing %v (%v), improved-diffusion keeps %v", c.T, c.K, got, err, c.DDIM)
		}
		lead, _ := Timesteps(c.T, c.K, SpacingLeading)
		if c.T%c.K == 0 && !slices.Equal(lead, got) {
			t.Errorf("T=%d K=%d: leading %v differs from ddim %v though K divides T", c.T, c.K, lead, got)
		}
		if !slices.Equal(lead, got) {
			differ++
		}
	}
	if differ != 1 { // T = 250, K = 20: strides 12 and 13
		t.Errorf("leading and ddim differ on %d cases of the fixture, want 1", differ)
	}
}

// TestNumpyLinspaceDiffersOnlyWhereDocumented: numpy's linspace(0, T-1, K).round() agrees with
// improved-diffusion's accumulated index everywhere in the fixture but T = 50, K = 25 (the
// case SpacedTimesteps' doc comment names), so a change to either shows up here.
func TestNumpyLinspaceDiffersOnlyWhereDocumented(t *testing.T) {
	for _, c := range readSpacingCases(t) {
		same := slices.Equal(c.NumpyLinspace, c.ImprovedDiffusion)
		if want := !(c.T == 50 && c.K == 25); same != want {
			t.Errorf("T=%d K=%d: numpy %v, improved-diffusion %v", c.T, c.K, c.NumpyLinspace, c.ImprovedDiffusion)
		}
	}
}
