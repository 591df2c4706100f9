package networks

import (
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// TestUNetDefaultsAreTheSmallNetwork: the unet plugin's declared defaults build today's
// network (its numbers depend on it): the small layout, no attention, no dropout, groups by
// normGroups, the embedding added, convolutions resampling, t unscaled.
func TestUNetDefaultsAreTheSmallNetwork(t *testing.T) {
	built, err := plugins.Build(plugins.KindNetwork, "unet", map[string]any{"channels": 16})
	if err != nil {
		t.Fatal(err)
	}
	u := built.(*UNet)
	if u.ResBlocks != 0 || len(u.Attention) != 0 || u.Dropout != 0 || u.Groups != 0 || u.ScaleShift || u.PoolResample ||
		u.TimeScale != 1 || u.heads() != 1 || u.NeedsRandom() {
		t.Errorf("defaults %+v are not the small network", *u)
	}
}

// TestUNetRefusesWhatNoLayoutHas: combinations of options that neither layout builds, and
// image shapes that the options cannot take, are refused naming the key.
func TestUNetRefusesWhatNoLayoutHas(t *testing.T) {
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"res_blocks": 2}, `res_blocks = 2 (improved-diffusion's layout) needs norm = "group"`},
		{map[string]any{"norm": "group", "attention": []any{8}}, "attention = [8] needs res_blocks >= 1"},
		{map[string]any{"norm": "group", "resample_conv": false}, "resample_conv = false needs res_blocks >= 1"},
		{map[string]any{"scale_shift": true}, `scale_shift = true needs norm = "group"`},
		{map[string]any{"groups": 4}, `groups = 4 needs norm = "group"`},
		{map[string]any{"norm": "group", "channels": 48, "groups": 32}, "groups = 32 does not divide channels = 48"},
	} {
		_, err := plugins.Build(plugins.KindNetwork, "unet", c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.params, err, c.want)
		}
	}
	for _, c := range []struct {
		u       UNet
		h, w, c int
		want    string
	}{
		{UNet{Channels: 8, Mults: []int{1, 2}, ResBlocks: 1, Attention: []int{16}}, 14, 14, 1, "attention at 16 pixels: no level has that height (the levels of 14x14 images are [7 14] high)"},
		{UNet{Channels: 8, Mults: []int{1, 2}, ResBlocks: 1, PoolResample: true}, 7, 7, 1, "resample_conv = false halves the level at 7x7 by average pooling, which needs even sides"},
		{UNet{Channels: 12, Mults: []int{1, 2}, ResBlocks: 1, Heads: 5}, 8, 8, 1, "heads = 5 does not divide the 24 channels of the level at 4x4"},
		{UNet{Channels: 12, Mults: []int{1, 2}, ResBlocks: 1, Heads: 5, Attention: []int{8}}, 8, 8, 1, "heads = 5 does not divide the 12 channels of the level at 8x8"},
	} {
		c.u.SetImageShape(c.h, c.w, c.c)
		err := c.u.CheckImageShape(c.h, c.w, c.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.u, err, c.want)
		}
	}
	ok := UNet{Channels: 8, Mults: []int{1, 2, 2}, ResBlocks: 2, Attention: []int{16, 8}, Heads: 4}
	if err := ok.CheckImageShape(32, 32, 3); err != nil {
		t.Errorf("a valid configuration refused: %v", err)
	}
}
