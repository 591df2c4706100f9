package launch

import (
	"path/filepath"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// TestMergeShardOfAMissingShard: a shard whose writers are known dead and that was never
// created holds nothing to merge; without that knowledge a missing shard is an error.
func TestMergeShardOfAMissingShard(t *testing.T) {
	dir := t.TempDir()
	store, err := results.Open(filepath.Join(dir, "main.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	missing := filepath.Join(dir, "trial-1.db")
	res, err := MergeShard(store, missing, ShardOptions{WritersDead: true})
	if err != nil || res.Shard != missing || len(res.IDs) != 0 {
		t.Errorf("writers dead: %+v, %v; want nothing merged and no error", res, err)
	}
	if _, err := MergeShard(store, missing, ShardOptions{}); err == nil {
		t.Error("writers alive: a missing shard merged without an error")
	}
}
