package serve

import (
	"net/http"
)

// sweepView is one sweep folder's trials, or why the folder could not be read.
type sweepView struct {
	Dir    string     `json:"dir"`
	Trials []SweepRow `json:"trials"`
	Error  string     `json:"error,omitempty"`
}

// sweeps reads every sweep folder afresh; a shard that cannot be read is its trial's error
// row (SweepRow.Error), a folder that cannot be read is the sweep's error.
func (s *Server) sweeps() []sweepView {
	out := []sweepView{}
	for _, sw := range s.opts.Sweeps {
		v := sweepView{Dir: sw.Dir, Trials: []SweepRow{}}
		rows, err := sw.States()
		if err != nil {
			v.Error = err.Error()
		}
		if rows != nil {
			v.Trials = rows
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) sweepsAPI(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.sweeps()) }

func (s *Server) sweepsPage(w http.ResponseWriter, r *http.Request) {
	data, err := jsonBlock(s.sweeps())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.page(w, "sweeps.html", map[string]any{"Title": "sweeps", "Data": data})
}
