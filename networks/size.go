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

// Size implements plugins.SizedNetwork by walking the same levels as Apply: per 3x3
// convolution, a kernel of 9*cin*cout and, per example, the nine-fold patch tensor of the
// im2col form plus the output; residual blocks add their SiLUs and sums.
func (u *UNet) Size(dim, outDim int) (params, activations int64) {
	if u.H == 0 {
		return 0, 0
	}
	conv := func(hw, cin, cout int) {
		params += int64(9*cin*cout + cout)
		activations += int64(hw) * int64(9*cin+2*cout)
	}
	emb := u.Channels * 4
	params += int64(u.Channels*emb+emb) + int64(emb*emb+emb)
	if u.Classes > 0 {
		params += int64(u.Classes+1) * int64(emb) // ClassEmbedding
	}
	norm := func(hw, c int) {
		if u.Norm == NormGroup {
			params += int64(2 * c)                // scale and shift
			activations += int64(hw) * int64(3*c) // centred, normalised, scaled
		}
	}
	block := func(hw, cin, cout int) {
		norm(hw, cin)
		activations += int64(hw) * int64(2*cin) // SiLU of the input
		conv(hw, cin, cout)
		params += int64(emb*cout + cout)
		activations += int64(hw) * int64(3*cout) // time embedding sum, SiLU
		norm(hw, cout)
		conv(hw, cout, cout)
		if cin != cout {
			params += int64(cin*cout + cout)
			activations += int64(hw) * int64(cout)
		}
		activations += int64(hw) * int64(cout) // residual sum
	}
	h, w := u.H, u.W
	c := u.C
	conv(h*w, c, u.Channels)
	c = u.Channels
	type level struct{ hw, c int }
	var skips []level
	for l, m := range u.Mults {
		block(h*w, c, u.Channels*m)
		c = u.Channels * m
		skips = append(skips, level{h * w, c})
		if l < len(u.Mults)-1 {
			h, w = (h+1)/2, (w+1)/2
			conv(h*w, c, c)
		}
	}
	block(h*w, c, c)
	for l := len(u.Mults) - 1; l >= 0; l-- {
		activations += int64(h*w) * int64(c+skips[l].c) // concatenation
		block(h*w, c+skips[l].c, u.Channels*u.Mults[l])
		c = u.Channels * u.Mults[l]
		if l > 0 {
			h, w = skips[l-1].hw, 1
			activations += int64(h) * int64(c) // upsampled map
			conv(h, c, c)
		}
	}
	norm(u.H*u.W, c)
	conv(u.H*u.W, c, max(outDim/(u.H*u.W), 1))
	return params, activations
}
