// Package losses holds the loss plugins simple, vlb and hybrid, and the timestep samplers
// (uniform, and Improved DDPM's loss-second-moment importance sampler).
//
// All losses are per example, in nats per dimension. With L_t the variational-bound term at
// step t (a Gaussian KL for t > 0, the decoder's negative log-likelihood at t = 0):
//
//	simple: mean ||target - prediction||^2, plus L_t with a stop-gradient on the mean when the
//	        variance is learned (Improved DDPM's MSE loss with a learned sigma)
//	vlb:    T * L_t, an unbiased estimate of the bound minus its constant prior term
//	hybrid: simple + lambda * T * L_t, the mean frozen in the second term (Improved DDPM, lambda = 0.001)
package losses
