// openblas_sgemm.c measures OpenBLAS's sgemm on the matrix shapes of the reference MLP DDPM
// step and on 1024^3, the numbers internal/gokernels' package doc compares its kernel with.
//
//   apt-get install libopenblas-dev
//   gcc -O2 bench/openblas/sgemm.c -lopenblas -o /tmp/openblas_sgemm
//   OPENBLAS_NUM_THREADS=1 /tmp/openblas_sgemm; OPENBLAS_NUM_THREADS=2 /tmp/openblas_sgemm
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run(int m, int n, int k) {
	float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
	for (int i = 0; i < m * k; i++) a[i] = (float)rand() / RAND_MAX - 0.5f;
	for (int i = 0; i < k * n; i++) b[i] = (float)rand() / RAND_MAX - 0.5f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
	double flops = 2.0 * m * n * k, best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		int iters = 0;
		double t0 = now(), t;
		do {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
			iters++;
			t = now() - t0;
		} while (t < 0.2);
		if (t / iters < best) best = t / iters;
	}
	printf("%5d x %5d x %5d  %7.1f GFLOP/s\n", m, n, k, flops / best / 1e9);
	free(a); free(b); free(c);
}

int main(void) {
	run(128, 256, 912);
	run(128, 256, 256);
	run(128, 784, 256);
	run(912, 256, 128);
	run(512, 256, 912);
	run(1024, 1024, 1024);
	return 0;
}
