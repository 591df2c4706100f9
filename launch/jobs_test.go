package launch

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/results"
)

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTieToParent: a --jobs child whose parent is not the process its environment names
// stops as on a signal; one whose parent is that process trains on.
func TestTieToParent(t *testing.T) {
	for _, tc := range []struct {
		parent string
		stops  bool
	}{
		{strconv.Itoa(os.Getppid()), false},
		{strconv.Itoa(os.Getppid() + 100000), true},
		{"", false},
	} {
		t.Setenv(JobsParentEnv, tc.parent)
		ctx, cancel := TieToParent(context.Background())
		select {
		case <-ctx.Done():
			if !tc.stops {
				t.Errorf("parent %q: the child stopped", tc.parent)
			}
		case <-time.After(time.Second):
			if tc.stops {
				t.Errorf("parent %q: the child did not stop within a second", tc.parent)
			}
		}
		cancel()
	}
}

// TestRecoverScratchLeavesWhatIsNotItsOwn: a command that runs trials on a database leaves
// alone the scratch folder of a live runner run --jobs, points out (without merging) one that
// an older runner left beside the database, removes a staging folder a killed runner left
// behind, and leaves a young one, which may be another runner's.
func TestRecoverScratchLeavesWhatIsNotItsOwn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, s *results.Store) string // the folder
		kept  bool
		notes string
	}{
		{"live", func(t *testing.T, s *results.Store) string {
			sc, err := NewScratch(s.ArtifactRoot(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sc.Release)
			return sc.dir
		}, true, "in use by a running `runner run --jobs`"},
		{"older runner's", func(t *testing.T, s *results.Store) string {
			dir := filepath.Join(filepath.Dir(s.Path), ".jobs-123")
			os.MkdirAll(dir, 0o755)
			return dir
		}, true, "older `runner run --jobs`"},
		{"stale staging", func(t *testing.T, s *results.Store) string {
			dir := filepath.Join(s.ArtifactRoot(), scratchStaging+"123")
			os.Mkdir(dir, 0o755)
			writeFile(t, dir, scratchLock, "{}")
			old := time.Now().Add(-2 * scratchStale)
			os.Chtimes(dir, old, old)
			return dir
		}, false, ""},
		{"half-deleted after its merge", func(t *testing.T, s *results.Store) string {
			// What a kill during the deletion leaves: the lock file went first.
			dir := filepath.Join(s.ArtifactRoot(), scratchDone+"789")
			os.MkdirAll(filepath.Join(dir, "trial-1"), 0o755)
			writeFile(t, dir, "trial-1.db", "")
			return dir
		}, false, ""},
		{"young staging", func(t *testing.T, s *results.Store) string {
			dir := filepath.Join(s.ArtifactRoot(), scratchStaging+"456")
			os.Mkdir(dir, 0o755)
			return dir
		}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := results.Open(filepath.Join(t.TempDir(), "runs.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.ClaimArtifactRoot(); err != nil {
				t.Fatal(err)
			}
			dir := tc.make(t, s)
			var notes strings.Builder
			RecoverScratch(s, &notes, nil)
			_, err = os.Stat(dir)
			if kept := err == nil; kept != tc.kept {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
			if !strings.Contains(notes.String(), tc.notes) || (tc.notes == "" && notes.Len() > 0) {
				t.Errorf("said %q, want %q", notes.String(), tc.notes)
			}
		})
	}
}
