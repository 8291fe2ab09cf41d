package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"poselab/engine"
)

// A grid (train --grid KEY=V1,V2 ...) queues one run per combination of
// the values given, for the hyperparameter search everyone does by hand:
// the runs train one after another (or side by side, as the engine
// allows), the workbench overlays their curves, and train ends with a
// table of them, best first.

// gridMax bounds a grid: a typo in a value list should not queue a
// thousand runs.
const gridMax = 100

// gridAxis is one --grid flag: a spec field and its values, as typed (the
// run names keep them so: lr=3e-4, not lr=0.0003).
type gridAxis struct {
	key    string
	values []string
	set    func(s *engine.Spec, v string)
}

// gridKeys are the fields a grid may vary, each with its check (the same
// as the single flag's) and how it sets the spec.
var gridKeys = map[string]struct {
	check func(string) error
	set   func(s *engine.Spec, v string)
}{
	"lr": {func(v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("a positive number")
		}
		if x > engine.MaxBaseLR { // as --lr and the new-run form
			return fmt.Errorf("a learning rate in (0, %g]", float64(engine.MaxBaseLR))
		}
		return nil
	}, func(s *engine.Spec, v string) { s.Schedule.BaseLR, _ = strconv.ParseFloat(v, 64) }},
	"batch":    {positiveInt(1), func(s *engine.Spec, v string) { s.Batch, _ = strconv.Atoi(v) }},
	"epochs":   {positiveInt(1), func(s *engine.Spec, v string) { s.Epochs, _ = strconv.Atoi(v) }},
	"patience": {positiveInt(0), func(s *engine.Spec, v string) { s.Patience, _ = strconv.Atoi(v) }},
	"seed": {func(v string) error {
		_, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("a whole number")
		}
		return nil
	}, func(s *engine.Spec, v string) { s.Seed, _ = strconv.ParseInt(v, 10, 64) }},
	"loss": {func(v string) error {
		if v != "l1" && v != "mse" {
			return fmt.Errorf("l1 or mse")
		}
		return nil
	}, func(s *engine.Spec, v string) { s.Loss = v }},
}

func positiveInt(min int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return fmt.Errorf("a whole number >= %d", min)
		}
		return nil
	}
}

// gridFlag collects --grid flags.
type gridFlag []gridAxis

func (g *gridFlag) String() string { return "" }

func (g *gridFlag) Set(arg string) error {
	key, list, ok := strings.Cut(arg, "=")
	k, known := gridKeys[key]
	if !ok || !known {
		keys := make([]string, 0, len(gridKeys))
		for k := range gridKeys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("want KEY=V1,V2,... with KEY one of %s, got %q", strings.Join(keys, ", "), arg)
	}
	for _, a := range *g {
		if a.key == key {
			return fmt.Errorf("%s is given twice: put its values in one list (%s=%s,%s)", key, key, strings.Join(a.values, ","), list)
		}
	}
	var values []string
	seen := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if err := k.check(v); err != nil {
			return fmt.Errorf("%s value %q: want %v", key, v, err)
		}
		// Compared as numbers where they are: 1e-3 and 0.001 (or 7 and 07)
		// would train the same run twice under two names.
		// (Whole numbers as such: seeds past 2^53 are not floats.)
		same := v
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			same = strconv.FormatInt(n, 10)
		} else if x, err := strconv.ParseFloat(v, 64); err == nil {
			same = strconv.FormatFloat(x, 'g', -1, 64)
		}
		if seen[same] {
			return fmt.Errorf("%s value %q is listed twice", key, v)
		}
		seen[same] = true
		values = append(values, v)
	}
	*g = append(*g, gridAxis{key: key, values: values, set: k.set})
	return nil
}

// expand returns one spec per combination, in the order the values were
// given (the last key varies fastest), each named after its values.
func (g gridFlag) expand(base engine.Spec) ([]engine.Spec, error) {
	n := 1
	for _, a := range g {
		n *= len(a.values)
		if n > gridMax {
			return nil, fmt.Errorf("--grid makes more than %d runs; split it", gridMax)
		}
	}
	out := make([]engine.Spec, 0, n)
	idx := make([]int, len(g))
	for range n {
		s := base
		var label []string
		for i, a := range g {
			v := a.values[idx[i]]
			a.set(&s, v)
			label = append(label, a.key+"="+v)
		}
		s.Name = strings.Join(label, ",")
		if base.Name != "" {
			s.Name = base.Name + " " + s.Name
		}
		out = append(out, s)
		for i := len(idx) - 1; i >= 0; i-- { // the next combination
			if idx[i]++; idx[i] < len(g[i].values) {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// gridTable prints a grid's runs, one line each, best validation first
// (runs without one last): the answer to "which setting won?".
func gridTable(w io.Writer, e *engine.Engine, ids []string) {
	infos := gridRuns(e, ids)
	fmt.Fprintf(w, "grid of %s, best first:\n", plural(len(infos), "run"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSETTING\tSTATE\tEPOCH\tBEST VAL\tLAST VAL")
	for _, i := range infos {
		px := is2D(e, i.Spec.ID)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", i.Spec.ID, i.Spec.Name, stateText(i), i.Epoch, i.Spec.Epochs,
			valText(i.BestValMPJPE, px), valText(i.LastValMPJPE, px))
	}
	tw.Flush()
}

// gridJSON is the table for --json: one last line, {"event": "grid",
// "runs": [...]}, the runs best first as `runs ls --json` gives them (the
// text table had no JSON counterpart: a script had to collect and sort
// the finished events itself).
func gridJSON(w io.Writer, e *engine.Engine, ids []string) {
	runs := []any{}
	for _, i := range gridRuns(e, ids) {
		runs = append(runs, runJSON(i, is2D(e, i.Spec.ID)))
	}
	b, _ := json.Marshal(map[string]any{"event": "grid", "runs": runs})
	fmt.Fprintln(w, string(b))
}

// gridRuns are a grid's runs, best validation first as `runs ls --sort
// best` orders them (mm, then px, then runs without one).
func gridRuns(e *engine.Engine, ids []string) []engine.RunInfo {
	var infos []engine.RunInfo
	for _, id := range ids {
		if info, ok := e.Run(id); ok {
			infos = append(infos, info)
		}
	}
	sortByBest(e, infos)
	return infos
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
