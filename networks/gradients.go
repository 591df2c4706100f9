package networks

import (
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // the graph ops read as math
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Two layers of every network here are differentiated by hand, because GoMLX's automatic
// differentiation of their ops makes many passes over activation-sized tensors, each
// reading tensors written long before:
//
//   - SiLU, y = x s with s = sigmoid(x). The product rule and the logistic's rule take six
//     passes. SiLU instead writes the derivative
//
//     dy/dx = s + x s (1 - s) = s + y (1 - s)
//
//     in the forward pass, while s and y are still in cache, and the backward pass
//     multiplies the incoming gradient by it: one pass (PyTorch's silu_backward is that
//     one pass, fused).
//
//   - GroupNorm, y = c k + o with c = x - mean(x) over a group, v = mean(c^2), k = k' / sqrt(v
//     + eps) per channel (k' the learned scale times any modulation) and o the offset. With
//     g the incoming gradient, N the values of a group and sums over a group's positions
//     and channels,
//
//     dL/dk = sum_positions g c,    dL/dx = g k + c a + b,
//     a = -(1 / (N (v + eps))) sum_channels k dL/dk,    b = -(1/N) sum_channels k sum_positions g,
//
//     (the terms through v and through the mean; the sum of c over a group, zero, is left
//     out), seven passes where the rules of the ops took eleven.
//
// These are first derivatives: differentiating the gradient again (a Hessian-vector product,
// a gradient penalty) through GroupNorm would miss the terms the marks cut off, and nothing
// here does it.
//
// Each such node carries a graph alias, "/gradient/<rule>/<node id>", that the gradients of
// Mul and Sub (registered in init, before any graph is built) look up; the nodes a rule needs
// besides the node's inputs carry the same alias with a suffix. Graphs that take no
// gradient (sampling, evaluation) never run what only the gradient uses.

const gradientAliasPrefix = "/gradient/"

// gradientAlias names node under rule, or one of the node's companions with a suffix.
func gradientAlias(rule string, node *Node, suffix string) string {
	return fmt.Sprintf("%s%s/%d%s", gradientAliasPrefix, rule, node.Id(), suffix)
}

// ruleOf returns the rule a node was marked with, or "". Only the node's own mark counts,
// not a companion's alias nor one a caller gave it afterwards (which replaces the mark: the
// node then gets GoMLX's rule, the same gradient, slower).
func ruleOf(node *Node) string {
	rest, ok := strings.CutPrefix(node.GetAlias(), gradientAliasPrefix)
	if !ok {
		return ""
	}
	rule, _, _ := strings.Cut(rest, "/")
	if node.GetAlias() != gradientAlias(rule, node, "") {
		return ""
	}
	return rule
}

// companion returns the node marked as node's companion with the given suffix.
func companion(rule string, node *Node, suffix string) *Node {
	return node.Graph().GetNodeByAlias(gradientAlias(rule, node, suffix))
}

// The rules.
const (
	ruleSiLU      = "silu"      // Mul(x, sigmoid(x)): all to x, times the kept derivative
	ruleNone      = "none"      // a Mul whose gradient another rule accounts for
	ruleGroupNorm = "groupnorm" // Mul(c, k) of GroupNorm: dL/dx to c, dL/dk to k
	ruleCentred   = "centred"   // Sub(x, mean(x)) of GroupNorm: the gradient is dL/dx already
)

var stockMulVJP, stockSubVJP VJP

func init() {
	stockMulVJP = VJPRegistration[NodeTypeMul]
	stockSubVJP = VJPRegistration[NodeTypeSub]
	VJPRegistration[NodeTypeMul] = mulVJP
	VJPRegistration[NodeTypeSub] = subVJP
}

// mulVJP is the gradient of a Mul: its rule's for a marked product, GoMLX's otherwise.
func mulVJP(node *Node, v []*Node, out shapes.Shape) []*Node {
	switch ruleOf(node) {
	case ruleSiLU:
		return []*Node{Mul(v[0], companion(ruleSiLU, node, "/derivative")), nil}
	case ruleNone:
		return []*Node{nil, nil}
	case ruleGroupNorm:
		return groupNormVJP(node, v[0])
	}
	return stockMulVJP(node, v, out)
}

// subVJP is the gradient of a Sub: all of it to the minuend for GroupNorm's centring (the
// mean's share is in groupNormVJP's b), GoMLX's otherwise.
func subVJP(node *Node, v []*Node, out shapes.Shape) []*Node {
	if ruleOf(node) == ruleCentred {
		return []*Node{v[0], nil}
	}
	return stockSubVJP(node, v, out)
}

// SiLU is x * sigmoid(x), with its derivative kept for the backward pass.
func SiLU(x *Node) *Node {
	s := Sigmoid(x)
	y := markGradient(ruleSiLU, Mul(x, s))
	Add(s, Mul(y, OneMinus(s))).WithAlias(gradientAlias(ruleSiLU, y, "/derivative"))
	return y
}

// markGradient gives node the alias of rule and returns it.
func markGradient(rule string, node *Node) *Node {
	return node.WithAlias(gradientAlias(rule, node, ""))
}

// groupNorm returns c k + o for the groups [P, B, G, C/G] of a map, grouped: c the groups
// centred, k = scale / sqrt(v + eps) with v their variance, and o = offset (scale and
// offset [1, B or 1, G, C/G], not computed from grouped's statistics). The nodes are marked
// so that the gradient is groupNormVJP's.
func groupNorm(grouped, scale, offset *Node) *Node {
	mean := ReduceAndKeep(grouped, ReduceMean, 0, 3)
	centred := markGradient(ruleCentred, Sub(grouped, mean))
	variance := ReduceAndKeep(markGradient(ruleNone, Mul(centred, centred)), ReduceMean, 0, 3)
	inv := Reciprocal(Sqrt(AddScalar(variance, normEpsilon))) // [1, B, G, 1]
	scaled := markGradient(ruleGroupNorm, Mul(centred, Mul(inv, scale)))
	inv.WithAlias(gradientAlias(ruleGroupNorm, scaled, "/inv"))
	return Add(scaled, offset)
}

// groupNormVJP is the gradient of GroupNorm's c k (node), given g = dL/d(c k): dL/dx to c
// (which passes it on unchanged) and dL/dk to k.
func groupNormVJP(node, g *Node) []*Node {
	c, k := node.Inputs()[0], node.Inputs()[1]
	inv := companion(ruleGroupNorm, node, "/inv")
	dims := c.Shape().Dimensions
	n := float64(dims[0] * dims[3])
	dk := ReduceAndKeep(Mul(g, c), ReduceSum, 0)                                              // [1, B, G, C/G]
	a := MulScalar(Mul(Square(inv), ReduceAndKeep(Mul(k, dk), ReduceSum, 3)), -1/n)           // [1, B, G, 1]
	b := MulScalar(ReduceAndKeep(Mul(k, ReduceAndKeep(g, ReduceSum, 0)), ReduceSum, 3), -1/n) // [1, B, G, 1]
	return []*Node{Add(Add(Mul(g, k), Mul(c, a)), b), dk}
}
