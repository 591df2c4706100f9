package networks

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // the graph ops read as math
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// SiLU, y = x sigmoid(x), is the activation of every network here. Left to GoMLX's automatic
// differentiation, its gradient is the product rule's two products and their sum plus the
// logistic's 1 - s, s (1 - s) and a third product: six passes over the activation in the
// backward pass, each reading tensors written long before. SiLU instead writes the
// derivative
//
//	dy/dx = s + x s (1 - s) = s + y (1 - s),    s = sigmoid(x),
//
// in the forward pass, while s and y are still in cache, and the backward pass multiplies the
// incoming gradient by it: one pass. The derivative's node is found again through a graph
// alias named after y; graphs that take no gradient (sampling, evaluation) never run it.
// PyTorch's silu_backward is the same one pass, fused.

// siluDerivativeAlias names the derivative node of the SiLU whose output node is id.
func siluDerivativeAlias(id NodeId) string { return fmt.Sprintf("/silu_derivative/%d", id) }

// init registers siluMulVJP as the gradient of Mul, before any graph is built (the registry
// is a plain map, read while graphs are differentiated).
func init() {
	stockMulVJP = VJPRegistration[NodeTypeMul]
	VJPRegistration[NodeTypeMul] = siluMulVJP
}

var stockMulVJP VJP

// siluMulVJP is the gradient of a Mul: for the product that SiLU builds, the incoming gradient
// times the derivative kept in the forward pass, all of it to x and none through the
// sigmoid; for any other product, GoMLX's own.
func siluMulVJP(node *Node, v []*Node, out shapes.Shape) []*Node {
	d := node.Graph().GetNodeByAlias(siluDerivativeAlias(node.Id()))
	if d == nil {
		return stockMulVJP(node, v, out)
	}
	return []*Node{Mul(v[0], d), nil}
}

// SiLU is x * sigmoid(x), with its derivative kept for the backward pass.
func SiLU(x *Node) *Node {
	s := Sigmoid(x)
	y := Mul(x, s)
	Add(s, Mul(y, OneMinus(s))).WithAlias(siluDerivativeAlias(y.Id()))
	return y
}
