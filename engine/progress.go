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
	start    time.Time
	lastLine time.Time
	every    int
}

func newProgress(w io.Writer, label string, start, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now(), lastLine: time.Now(), every: max(1, total/10)}
	if w == nil || w == io.Discard {
		p.w = nil
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		_ = p.bar.Set(start)
	}
	return p
}

// step reports that step (1-based) finished with the given loss.
func (p *progress) step(step int, loss float64, stepsDone int) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4g", loss))
		_ = p.bar.Set(step)
		return
	}
	if step%p.every == 0 || step == p.total || time.Since(p.lastLine) > 30*time.Second {
		el := time.Since(p.start).Seconds()
		rate := float64(stepsDone) / el
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

func (p *progress) printf(format string, args ...any) {
	if p.w != nil {
		fmt.Fprintf(p.w, format, args...)
	}
}
