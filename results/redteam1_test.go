package results

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRedteam1MergeOfAShardReachedThroughASymlink: a shard named through a symlink in
// another folder is the same database as the file it leads to (its artifacts live beside
// that file, see ArtifactRoot), so merging it, copied or linked, must find its run's files
// rather than look for them beside the symlink and refuse them as "outside".
func TestRedteam1MergeOfAShardReachedThroughASymlink(t *testing.T) {
	for _, link := range []bool{false, true} {
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "other"), 0o755))
		must(t, os.MkdirAll(filepath.Join(dir, "lnk"), 0o755))
		shardPath := filepath.Join(dir, "other", "S.db")
		shard, sid := storeWithArtifact(t, shardPath)
		shard.Close()
		viaLink := filepath.Join(dir, "lnk", "link.db")
		must(t, os.Symlink(shardPath, viaLink))
		main := openMain(t, filepath.Join(dir))
		res, err := main.Merge(viaLink, MergeOptions{LinkArtifacts: link})
		if err != nil {
			t.Errorf("LinkArtifacts=%v: merging the shard through a symlink: %v", link, err)
			continue
		}
		if link {
			main.UseLinkedRunDirs()
		}
		if b, err := main.ReadArtifact(res.IDs[sid], "a", 100); err != nil || string(b) != "mine" {
			t.Errorf("LinkArtifacts=%v: the merged run's artifact: %q %v, want \"mine\"", link, b, err)
		}
	}
}

// TestRedteam1ReadArtifactRefusesASymlinkedRunFolder: a run's folder (runs/<id>) that is a
// symlink to a folder elsewhere leads every artifact of the run out of the database's
// artifact folder. Merge refuses such a folder in a shard ("a run's folder must be a folder
// of its own"); the reader must not follow it either, or the HTML report embeds any PNG (and
// --diff reads any CSV of numbers) the user can read, wherever the symlink points.
func TestRedteam1ReadArtifactRefusesASymlinkedRunFolder(t *testing.T) {
	dir := t.TempDir()
	s, id := storeWithArtifact(t, filepath.Join(dir, "runs.db"))
	elsewhere := filepath.Join(dir, "elsewhere")
	must(t, os.MkdirAll(elsewhere, 0o755))
	must(t, os.WriteFile(filepath.Join(elsewhere, "a.txt"), []byte("secret"), 0o644))
	runDir, err := s.RunDir(id)
	must(t, err)
	must(t, os.RemoveAll(runDir))
	must(t, os.Symlink(elsewhere, runDir))
	b, err := s.ReadArtifact(id, "a", 100)
	if err == nil {
		t.Errorf("read %q through the symlinked run folder %s -> %s; want it refused as outside the artifact folder", b, runDir, elsewhere)
	}
}
