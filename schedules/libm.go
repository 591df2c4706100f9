package schedules

// #cgo LDFLAGS: -lm
// #include <math.h>
import "C"

// libmCos is the C library's cos. The cosine schedule's betas are 1 - f(t)/f(t-1) with f
// close to 1 at small t, so a one-ulp difference in cos is amplified about 1/beta times
// (~1e-11 relative at T = 4000). improved-diffusion computes them with Python's math.cos,
// which is the C library's; using the same function reproduces its numbers to 1e-12
// instead of only to 1e-10 (Go's math.Cos differs from glibc's in the last bit for some
// arguments). cgo is required anyway by the SQLite driver.
func libmCos(x float64) float64 { return float64(C.cos(C.double(x))) }
