// Package report holds the figures benchmark scenarios measure and prints them as a table
// and as JSON. It measures nothing itself.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is one measured number.
type Figure struct {
	Scenario string  `json:"scenario"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	// Goal is the budget in words ("< 1 s"); Met says whether Value is within it.
	Goal string `json:"goal,omitempty"`
	Met  *bool  `json:"met,omitempty"`
	Note string `json:"note,omitempty"`
}

// Below returns a figure with a "less than" goal.
func Below(name string, value, limit float64, unit string) Figure {
	met := value < limit
	return Figure{Name: name, Value: value, Unit: unit, Goal: fmt.Sprintf("< %s %s", trim(limit), unit), Met: &met}
}

// Plain returns a figure without a goal.
func Plain(name string, value float64, unit string) Figure {
	return Figure{Name: name, Value: value, Unit: unit}
}

// Millis converts a duration to milliseconds for a figure.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Percentile returns the p-th percentile (0..100) of durations (nearest rank).
func Percentile(durations []time.Duration, p float64) time.Duration {
	if len(durations) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), durations...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// Summary is min, median and max of a few runs.
type Summary struct{ Min, Median, Max time.Duration }

// Summarize returns min, median and max.
func Summarize(durations []time.Duration) Summary {
	if len(durations) == 0 {
		return Summary{}
	}
	sorted := append([]time.Duration(nil), durations...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return Summary{Min: sorted[0], Median: sorted[len(sorted)/2], Max: sorted[len(sorted)-1]}
}

// PrintTable writes the figures as an aligned table.
func PrintTable(w io.Writer, figures []Figure) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tVALUE\tGOAL\tMET\tNOTE")
	for _, f := range figures {
		met := ""
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\n", f.Scenario, f.Name, trim(f.Value), f.Unit, f.Goal, met, f.Note)
	}
	return tw.Flush()
}

// WriteJSON writes the figures to path with the time and a free-form environment note.
func WriteJSON(path string, env map[string]string, figures []Figure) error {
	data, err := json.MarshalIndent(struct {
		Time    time.Time         `json:"time"`
		Env     map[string]string `json:"env"`
		Figures []Figure          `json:"figures"`
	}{time.Now().UTC(), env, figures}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func trim(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
