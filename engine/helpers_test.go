package engine_test

import (
	"encoding/csv"
	"os"
	"strconv"
	"testing"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func readSamples(t *testing.T, path string) []float32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, row := range rows[1:] {
		for _, cell := range row {
			v, err := strconv.ParseFloat(cell, 32)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, float32(v))
		}
	}
	return out
}
