package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/datasets/predfile"
	"poselab/pose"
)

func metricsRows(n int, shiftMM float64) []predfile.Row {
	rows := make([]predfile.Row, n)
	for i := range rows {
		rows[i].ID = i
		for j := range rows[i].Joints {
			rows[i].Joints[j] = pose.Vec3{float64(50 * j), float64(-30 * j), 4000 + float64(10*j)}
			if j == pose.LWrist {
				rows[i].Joints[j][0] += shiftMM
			}
		}
	}
	return rows
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMetricsJSONHandCase(t *testing.T) {
	dir := t.TempDir()
	gt, pred := filepath.Join(dir, "gt.csv"), filepath.Join(dir, "pred.npz")
	predfile.Write(gt, metricsRows(4, 0))
	p := metricsRows(4, 34) // LWrist 34 mm off in every sample
	p[0], p[3] = p[3], p[0] // order does not matter: rows match by Id
	predfile.Write(pred, p)
	code, out, errs := runCLI("metrics", "--pred", pred, "--gt", gt, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want exactly one JSON line, got %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"n", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck150", "auc", "per_joint_mm"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("key %q missing from %s", k, out)
		}
	}
	if len(m) != 7 || m["n"].(float64) != 4 {
		t.Fatalf("output %s", out)
	}
	// float32 storage in the npz: allow 1e-3 mm.
	if v := m["mpjpe_mm"].(float64); math.Abs(v-34.0/17) > 1e-3 {
		t.Fatalf("mpjpe_mm %v, want %v", v, 34.0/17)
	}
	pj := m["per_joint_mm"].([]any)
	if len(pj) != 17 || math.Abs(pj[pose.LWrist].(float64)-34) > 1e-3 || pj[pose.RWrist].(float64) > 1e-3 {
		t.Fatalf("per_joint_mm %v", pj)
	}
	if m["pck150"].(float64) != 1 {
		t.Fatalf("pck150 %v", m["pck150"])
	}
	// The table names the units and every joint.
	code, out, _ = runCLI("metrics", "--pred", pred, "--gt", gt)
	if code != 0 || !strings.Contains(out, "MPJPE") || !strings.Contains(out, " mm") || !strings.Contains(out, "RWrist") {
		t.Fatalf("table (exit %d):\n%s", code, out)
	}
}

func TestMetricsErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	gt := filepath.Join(dir, "gt.csv")
	predfile.Write(gt, metricsRows(3, 0))
	missing := filepath.Join(dir, "missing.json")
	predfile.Write(missing, metricsRows(2, 0))
	extra := filepath.Join(dir, "extra.json")
	ex := metricsRows(4, 0)
	predfile.Write(extra, ex)
	header := strings.Join(predfile.CSVHeader(), ",")
	nan := filepath.Join(dir, "nan.csv")
	os.WriteFile(nan, []byte(header+"\n0"+strings.Repeat(",1", 50)+",NaN\n"), 0o644)
	short := filepath.Join(dir, "short.csv")
	os.WriteFile(short, []byte(header+"\n0,1,2\n"), 0o644)
	junk := filepath.Join(dir, "junk.npz")
	os.WriteFile(junk, []byte("junk"), 0o644)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--pred", missing, "--gt", gt}, []string{"missing.json", "no prediction for Id 2", "gt.csv, row 4"}},
		{[]string{"--pred", extra, "--gt", gt}, []string{"extra.json", "entry 3", "Id 3 is not in the ground truth"}},
		{[]string{"--pred", nan, "--gt", gt}, []string{"nan.csv", "row 2", "NaN"}},
		{[]string{"--pred", short, "--gt", gt}, []string{"short.csv", "row 2", "3 columns, want 52"}},
		{[]string{"--pred", junk, "--gt", gt}, []string{"junk.npz"}},
		{[]string{"--pred", filepath.Join(dir, "nope.csv"), "--gt", gt}, []string{"nope.csv", "no such file"}},
		{[]string{"--pred", gt}, []string{"--gt"}},
		{[]string{"--bogus"}, []string{"bogus"}},
	}
	for _, c := range cases {
		code, out, errs := runCLI(append([]string{"metrics", "--json"}, c.args...)...)
		if code != 2 || out != "" || strings.Count(strings.TrimSpace(errs), "\n") > 0 && !strings.Contains(c.args[0], "bogus") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a one-line error", c.args, code, out, errs)
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr %q lacks %q", c.args, errs, w)
			}
		}
	}
}

func TestMetricsHelp(t *testing.T) {
	code, _, errs := runCLI("metrics", "--help")
	if code != 0 || !strings.Contains(errs, "--pred") || !strings.Contains(errs, "PCKh") || !strings.Contains(errs, "Id,Hip_x") {
		t.Fatalf("metrics --help: exit %d\n%s", code, errs)
	}
	code, out, _ := runCLI("--help")
	if code != 0 || !strings.Contains(out, "metrics") {
		t.Fatalf("poselab --help: exit %d\n%s", code, out)
	}
}

func TestMetrics2D(t *testing.T) {
	dir := t.TempDir()
	type person struct {
		Image     string         `json:"image"`
		Center    [2]float64     `json:"center"`
		Scale     float64        `json:"scale"`
		Joints    [16][2]float64 `json:"joints"`
		JointsVis [16]int        `json:"joints_vis"`
		HeadBox   *[2][2]float64 `json:"headbox,omitempty"`
	}
	type pred struct {
		Image  string         `json:"image"`
		Joints [16][2]float64 `json:"joints"`
	}
	var gts []person
	var preds []pred
	for i := 0; i < 2; i++ {
		g := person{Image: []string{"a.jpg", "b.jpg"}[i], Center: [2]float64{100, 100}, Scale: 1,
			HeadBox: &[2][2]float64{{0, 0}, {30, 40}}} // threshold 15 px
		p := pred{Image: g.Image}
		for j := range g.Joints {
			g.Joints[j] = [2]float64{float64(10 * j), 50}
			g.JointsVis[j] = 1
			p.Joints[j] = g.Joints[j]
		}
		gts, preds = append(gts, g), append(preds, p)
	}
	preds[0].Joints[10][0] += 20 // r_wrist wrong in one person of two
	preds[1].Joints[6][0] += 20  // pelvis wrong: not in the summary
	gts[1].JointsVis[0] = 0      // r_ankle invisible
	preds[1].Joints[0][0] += 99
	gtPath, predPath := filepath.Join(dir, "gt.json"), filepath.Join(dir, "pred.json")
	b, _ := json.Marshal(gts)
	os.WriteFile(gtPath, b, 0o644)
	b, _ = json.Marshal(preds)
	os.WriteFile(predPath, b, 0o644)
	code, out, errs := runCLI("metrics", "--2d", "--pred", predPath, "--gt", gtPath, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m struct {
		N        int        `json:"n"`
		PCKh50   float64    `json:"pckh50"`
		PerJoint []*float64 `json:"per_joint_pckh50"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	// 14 scored joints x 2 people - 1 invisible = 27 counted, 1 wrong.
	// Fractions, like the 3D scorer's pck150 (they were percentages).
	if m.N != 2 || math.Abs(m.PCKh50-26.0/27) > 1e-9 || len(m.PerJoint) != 16 ||
		*m.PerJoint[10] != 0.5 || *m.PerJoint[6] != 0.5 || *m.PerJoint[0] != 1 {
		t.Fatalf("output %s", out)
	}
	// The table says the same in percent.
	code, out, errs = runCLI("metrics", "--2d", "--pred", predPath, "--gt", gtPath)
	if code != 0 || !strings.Contains(out, "PCKh@0.5     96.30 %") || !strings.Contains(out, "r_wrist        50.00") {
		t.Fatalf("table: exit %d, err %q:\n%s", code, errs, out)
	}
	// A joint visible in nobody has no PCKh: "-" in the table, not NaN.
	gts[0].JointsVis[0] = 0 // r_ankle now invisible in both people
	b, _ = json.Marshal(gts)
	os.WriteFile(gtPath, b, 0o644)
	code, out, errs = runCLI("metrics", "--2d", "--pred", predPath, "--gt", gtPath)
	if code != 0 || strings.Contains(out, "NaN") || !strings.Contains(out, "r_ankle") {
		t.Fatalf("joint visible in nobody: exit %d, err %q, table:\n%s", code, errs, out)
	}
	// No visible joint: nothing to score, in the table as in JSON.
	novis := append([]person(nil), gts...)
	for i := range novis {
		novis[i].JointsVis = [16]int{}
	}
	b, _ = json.Marshal(novis)
	os.WriteFile(gtPath, b, 0o644)
	for _, args := range [][]string{{}, {"--json"}} {
		code, out, errs = runCLI(append([]string{"metrics", "--2d", "--pred", predPath, "--gt", gtPath}, args...)...)
		if code != 2 || !strings.Contains(errs, "no visible joints") || strings.Contains(out, "NaN") {
			t.Fatalf("%v no visible joints: exit %d, out %q, err %q", args, code, out, errs)
		}
	}
	// Without head boxes (ETH's and mmpose's MPII files) PCKh takes the
	// head segment, as training's validation does (docs/metrics.md): it
	// refused such files. Upper neck (80, 50) to head top (90, 50): 10 px,
	// a 5 px threshold; r_ankle is invisible in both people now, so 26
	// joints count and r_wrist of person 0 is the one wrong.
	for i := range gts {
		gts[i].HeadBox = nil
	}
	b, _ = json.Marshal(gts)
	os.WriteFile(gtPath, b, 0o644)
	code, out, errs = runCLI("metrics", "--2d", "--pred", predPath, "--gt", gtPath, "--json")
	var seg struct {
		N           int     `json:"n"`
		PCKh50      float64 `json:"pckh50"`
		HeadSegment int     `json:"head_segment"`
		Unscored    int     `json:"unscored"`
	}
	if err := json.Unmarshal([]byte(out), &seg); code != 0 || err != nil || seg.N != 2 || math.Abs(seg.PCKh50-25.0/26) > 1e-9 || seg.HeadSegment != 2 || seg.Unscored != 0 {
		t.Fatalf("no headbox: exit %d, %s %s", code, out, errs)
	}
	// A person with neither a head box nor a visible head segment is left
	// out, and the table says so.
	gts[1].JointsVis[9] = 0
	b, _ = json.Marshal(gts)
	os.WriteFile(gtPath, b, 0o644)
	code, out, errs = runCLI("metrics", "--2d", "--pred", predPath, "--gt", gtPath)
	if code != 0 || !strings.Contains(out, "1 people (") || !strings.Contains(out, "1 without a head box: PCKh scaled by the head segment") ||
		!strings.Contains(out, "1 left out: no head box and no visible upper neck and head top") {
		t.Fatalf("person without head size: exit %d, %s:\n%s", code, errs, out)
	}
}
