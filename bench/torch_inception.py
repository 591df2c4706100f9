#!/usr/bin/env python3
"""Times the FID Inception's forward pass in PyTorch: torchvision's Inception3 as pytorch-fid
builds fid_inception_v3 (1008 classes, no auxiliary logits, BatchNorm eps 1e-3), in eval mode
without gradients, on random 299x299 inputs, to the logits (pool3 on the way). The FID
blocks' pooling differences (average pooling without the padded zeros, a max pooling in the
last block) change no shape and next to no time; the weights are torchvision's random
initialisation, as the runner's bench uses random weights of the same shapes.

usage: torch_inception.py [--device cuda] [BATCH ...]   (default batch 50)
Prints "batch B threads N: S steps/s" (forward passes per second) per batch and thread
count (1, 2); with --device cuda, once per batch on the GPU. Run by `runner bench --config
inception` when python3 can import torch and torchvision (Debian's python3-torchvision)."""
import sys
import time

import torch
import torchvision


def main():
    args = sys.argv[1:]
    device = "cpu"
    if "--device" in args:
        i = args.index("--device")
        device = args[i + 1]
        del args[i : i + 2]
    batches = [int(a) for a in args] or [50]
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net = net.eval().to(device)
    threads = [1, 2] if device == "cpu" else [torch.get_num_threads()]
    with torch.no_grad():
        for batch in batches:
            x = torch.rand(batch, 3, 299, 299, device=device) * 2 - 1
            for n in threads:
                torch.set_num_threads(n)
                net(x)  # warm up
                if device != "cpu":
                    torch.cuda.synchronize()
                runs, start = 0, time.perf_counter()
                while runs == 0 or time.perf_counter() - start < 3:
                    net(x)
                    if device != "cpu":
                        torch.cuda.synchronize()
                    runs += 1
                print(f"batch {batch} threads {n}: {runs / (time.perf_counter() - start):.4f} steps/s", flush=True)


if __name__ == "__main__":
    main()
