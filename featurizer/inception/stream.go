package inception

import (
	"context"
	"fmt"
)

// ImageFunc gives image i of a set as pytorch-fid reads images: [h, w, c] values in [0, 1],
// channels last, c = 1 (grey) or 3.
type ImageFunc func(i int) (img []float32, h, w, c int, err error)

// Stream runs n images through the network batch images at a time and hands each batch's
// outputs (count x Size values each) to sink as they come, so that a caller that keeps only
// statistics never holds more than one batch of images and features. progress, when not
// nil, is told how many images are done after each batch. A cancelled ctx stops it between
// batches with ctx's error.
func (n *Net) Stream(ctx context.Context, count, batch int, want Output, image ImageFunc,
	sink func(out map[Output][]float32, count int) error, progress func(done int)) error {
	if batch < 1 {
		return fmt.Errorf("inception: batch %d: needs at least 1", batch)
	}
	for start := 0; start < count; start += batch {
		if ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		end := min(start+batch, count)
		x := make([]float32, 0, (end-start)*Side*Side*3)
		for i := start; i < end; i++ {
			img, h, w, c, err := image(i)
			if err != nil {
				return err
			}
			p, err := Preprocess(img, 1, h, w, c)
			if err != nil {
				return fmt.Errorf("image %d: %w", i, err)
			}
			x = append(x, p...)
		}
		out, err := n.Forward(x, end-start, want)
		if err != nil {
			return err
		}
		if err := sink(out, end-start); err != nil {
			return err
		}
		if progress != nil {
			progress(end)
		}
	}
	return nil
}
