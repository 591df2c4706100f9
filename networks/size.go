package networks

// Limits on how many layers a network may build. Size counts tensors, but every layer also
// costs graph nodes (forward, gradient, optimizer and EMA updates, in each compiled graph)
// that are independent of its width: the memory estimate's base allowance covers them up to
// these limits, not beyond.
const (
	// MaxLayers is the most hidden layers of an MLP.
	MaxLayers = 64
	// MaxLevels is the most resolution levels of a U-Net (a 512-pixel image is 4 pixels
	// wide at the eighth).
	MaxLevels = 8
)

// Size implements plugins.SizedNetwork: the dense layers' weights and biases, and per
// example the pre-activation, sigmoid and product of every hidden layer.
func (m MLP) Size(dim, outDim int) (params, activations int64) {
	in := int64(dim + m.EmbedDim)
	activations = in + 2*int64(m.EmbedDim)
	for _, w := range m.Hidden {
		params += in*int64(w) + int64(w)
		activations += 3 * int64(w)
		in = int64(w)
	}
	params += in*int64(outDim) + int64(outDim)
	activations += 2 * int64(outDim)
	if m.Skip {
		params += int64(m.EmbedDim+1) * int64(outDim/max(dim, 1))
		activations += 2 * int64(outDim)
	}
	if m.Classes > 0 {
		params += int64(m.Classes+1) * int64(m.EmbedDim) // ClassEmbedding
	}
	return params, activations
}

// Size implements plugins.SizedNetwork by walking the same layers as Apply: per 3x3
// convolution, a kernel of 9*cin*cout and, per example, the nine-fold patch tensor of the
// im2col form plus the output; residual blocks add their norms, SiLUs, dropout masks and
// sums; attention its projections and, per head, the P x P weights before and after the
// softmax.
func (u *UNet) Size(dim, outDim int) (params, activations int64) {
	if u.H == 0 {
		return 0, 0
	}
	s := &unetSizer{u: u, emb: u.Channels * 4}
	s.params += int64(u.Channels*s.emb+s.emb) + int64(s.emb*s.emb+s.emb)
	if u.Classes > 0 {
		s.params += int64(u.Classes+1) * int64(s.emb) // ClassEmbedding
	}
	outC := max(outDim/(u.H*u.W), 1)
	if u.ResBlocks > 0 {
		s.improved(outC)
	} else {
		s.small(outC)
	}
	return s.params, s.acts
}

// unetSizer adds up a U-Net's parameters and activations per example.
type unetSizer struct {
	u            *UNet
	emb          int
	params, acts int64
}

func (s *unetSizer) conv(hw, cin, cout int) {
	s.params += int64(9*cin*cout + cout)
	s.acts += int64(hw) * int64(9*cin+2*cout)
}

func (s *unetSizer) norm(hw, c int) {
	if s.u.Norm == NormGroup {
		s.params += int64(2 * c)         // scale and shift
		s.acts += int64(hw) * int64(3*c) // centred, normalised, scaled
	}
}

func (s *unetSizer) dense(hw, cin, cout int) {
	s.params += int64(cin*cout + cout)
	s.acts += int64(hw) * int64(cout)
}

func (s *unetSizer) block(hw, cin, cout int) {
	s.norm(hw, cin)
	s.acts += int64(hw) * int64(2*cin) // SiLU of the input
	s.conv(hw, cin, cout)
	if s.u.ScaleShift {
		s.params += int64(s.emb*2*cout + 2*cout)
		s.acts += int64(hw) * int64(3*cout) // (1 + scale), product, shift
	} else {
		s.params += int64(s.emb*cout + cout)
		s.acts += int64(hw) * int64(cout) // time embedding sum
	}
	s.norm(hw, cout)
	s.acts += int64(hw) * int64(2*cout) // SiLU
	if s.u.Dropout > 0 {
		s.acts += int64(hw) * int64(3*cout) // uniform draws, mask, product
	}
	s.conv(hw, cout, cout)
	if cin != cout {
		s.dense(hw, cin, cout)
	}
	s.acts += int64(hw) * int64(cout) // residual sum
}

func (s *unetSizer) attention(hw, c int) {
	heads := s.u.heads()
	s.norm(hw, c)
	s.dense(hw, c, 3*c)
	s.acts += int64(hw) * int64(3*3*c+3*c)             // the masked q, k, v products and their sums
	s.acts += 4 * int64(heads) * int64(hw) * int64(hw) // logits, exp, its normaliser, weights
	s.acts += int64(hw) * int64(2*c)                   // a and its transpose
	s.dense(hw, c, c)
	s.acts += int64(hw) * int64(c) // residual sum
}

// small is the small layout's walk (ResBlocks = 0).
func (s *unetSizer) small(outC int) {
	u := s.u
	h, w := u.H, u.W
	s.conv(h*w, u.C, u.Channels)
	c := u.Channels
	type level struct{ hw, c int }
	var skips []level
	for l, m := range u.Mults {
		s.block(h*w, c, u.Channels*m)
		c = u.Channels * m
		skips = append(skips, level{h * w, c})
		if l < len(u.Mults)-1 {
			h, w = (h+1)/2, (w+1)/2
			s.conv(h*w, c, c)
		}
	}
	s.block(h*w, c, c)
	for l := len(u.Mults) - 1; l >= 0; l-- {
		s.acts += int64(h*w) * int64(c+skips[l].c) // concatenation
		s.block(h*w, c+skips[l].c, u.Channels*u.Mults[l])
		c = u.Channels * u.Mults[l]
		if l > 0 {
			h, w = skips[l-1].hw, 1
			s.acts += int64(h) * int64(c) // upsampled map
			s.conv(h, c, c)
		}
	}
	s.norm(u.H*u.W, c)
	s.conv(u.H*u.W, c, outC)
}

// improved is the walk of improved-diffusion's layout (see unet_layout.go).
func (s *unetSizer) improved(outC int) {
	u := s.u
	h, w := u.H, u.W
	s.conv(h*w, u.C, u.Channels)
	c := u.Channels
	skips := []int{c}
	type res struct{ h, w int }
	var sizes []res
	for l, m := range u.Mults {
		sizes = append(sizes, res{h, w})
		for range u.ResBlocks {
			s.block(h*w, c, u.Channels*m)
			c = u.Channels * m
			if u.attends(h) {
				s.attention(h*w, c)
			}
			skips = append(skips, c)
		}
		if l < len(u.Mults)-1 {
			h, w = (h+1)/2, (w+1)/2
			if u.PoolResample {
				s.acts += int64(h*w) * int64(5*c) // four taps and their mean
			} else {
				s.conv(h*w, c, c)
			}
			skips = append(skips, c)
		}
	}
	s.block(h*w, c, c)
	s.attention(h*w, c)
	s.block(h*w, c, c)
	for l := len(u.Mults) - 1; l >= 0; l-- {
		for i := 0; i <= u.ResBlocks; i++ {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			s.acts += int64(h*w) * int64(c+skip) // concatenation
			s.block(h*w, c+skip, u.Channels*u.Mults[l])
			c = u.Channels * u.Mults[l]
			if u.attends(h) {
				s.attention(h*w, c)
			}
			if l > 0 && i == u.ResBlocks {
				h, w = sizes[l-1].h, sizes[l-1].w
				s.acts += int64(h*w) * int64(c) // upsampled map
				if !u.PoolResample {
					s.conv(h*w, c, c)
				}
			}
		}
	}
	s.norm(u.H*u.W, c)
	s.acts += int64(u.H*u.W) * int64(2*c) // SiLU
	s.conv(u.H*u.W, c, outC)
	s.acts += int64(u.H*u.W) * int64(outC) // the output's transpose
}
