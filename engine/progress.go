package engine

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how training goes: a bar with loss, steps/s and ETA on a terminal, plain
// periodic lines otherwise (logs, CI), nothing when the writer is io.Discard.
type progress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	total    int
	done0    int // steps already done when this process started (a resumed run)
	start    time.Time
	lastLine time.Time
	every    int
}

// newProgress starts the report of a run of total steps of which done were trained before
// (by the process that a resume continues): rates and ETAs count only this process's steps.
func newProgress(w io.Writer, label string, done, total int) *progress {
	p := &progress{w: w, total: total, done0: done, start: time.Now(), lastLine: time.Now(), every: max(1, total/10)}
	if w == nil || w == io.Discard {
		p.w = nil
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if done > 0 {
			label = fmt.Sprintf("%s (resumed after step %d)", label, done)
		}
		// The bar counts this process's steps, so that its rate and ETA are right.
		p.bar = progressbar.NewOptions(total-done,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// step reports that step (1-based, counted over the whole run) finished with the given loss.
func (p *progress) step(step int, loss float64) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("step %d/%d  loss %.4g", step, p.total, loss))
		_ = p.bar.Set(step - p.done0)
		return
	}
	if step%p.every == 0 || step == p.total || time.Since(p.lastLine) > 30*time.Second {
		el := time.Since(p.start).Seconds()
		rate := float64(step-p.done0) / el
		eta := time.Duration(float64(p.total-step)/rate) * time.Second
		fmt.Fprintf(p.w, "step %d/%d  loss %.5g  %.1f steps/s  eta %s\n", step, p.total, loss, rate, eta.Round(time.Second))
		p.lastLine = time.Now()
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
