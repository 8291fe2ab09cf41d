package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"poselab/checkpoints"
	"poselab/datasets"
	"poselab/datasets/predfile"
	"poselab/engine"
)

func trainCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

// `poselab train --json` prints one JSON object per line: "started" first,
// "finished" last with the validation and mean-pose baseline numbers; the
// run is then listed, evaluated and exported by the other commands.
func TestTrainJSONEventsAndRunCommands(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--epochs", "2", "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if _, ok := m["event"]; !ok {
			t.Fatalf("line without event: %q", sc.Text())
		}
		events = append(events, m)
	}
	if len(events) < 4 {
		t.Fatalf("%d events", len(events))
	}
	first, last := events[0], events[len(events)-1]
	id, _ := first["run"].(string)
	if first["event"] != "started" || id == "" {
		t.Fatalf("first event %v", first)
	}
	if last["event"] != "finished" || last["run"] != id {
		t.Fatalf("last event %v", last)
	}
	for _, k := range []string{"val_mpjpe_mm", "best_val_mpjpe_mm", "baseline_mpjpe_mm"} {
		if v, ok := last[k].(float64); !ok || v <= 0 {
			t.Fatalf("finished event %s = %v", k, last[k])
		}
	}
	kinds := map[string]int{}
	for _, ev := range events {
		kinds[ev["event"].(string)]++
	}
	if kinds["epoch"] != 2 || kinds["step"] == 0 || kinds["checkpoint"] == 0 || kinds["resource"] == 0 {
		t.Fatalf("event counts %v", kinds)
	}
	// The engine's resource events (one as training starts, then every 2 s)
	// reach machines too, with the units in the keys.
	for _, ev := range events {
		if ev["event"] == "resource" {
			if v, _ := ev["mem_used_bytes"].(float64); v <= 0 || ev["mem_kind"] != "rss" || ev["run"] != id {
				t.Fatalf("resource event %v", ev)
			}
		}
	}

	out, _, code = trainCLI(t, "runs", "ls", "--runs-dir", dir)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "finished") {
		t.Fatalf("runs ls (%d): %s", code, out)
	}
	out, _, code = trainCLI(t, "runs", "show", id, "--runs-dir", dir)
	if code != 0 || !strings.Contains(out, "val MPJPE") {
		t.Fatalf("runs show (%d): %s", code, out)
	}
	out, _, code = trainCLI(t, "runs", "compare", id, id, "--runs-dir", dir)
	if code != 0 || !strings.Contains(out, "best val MPJPE") || !strings.Contains(out, "RWrist (mm)") || !strings.Contains(out, "per joint, last epoch") {
		t.Fatalf("runs compare (%d): %s", code, out)
	}
	out, errs, code = trainCLI(t, "eval", "--run", id, "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("eval (%d): %s", code, errs)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatal(err)
	}
	// checkpoint, epoch, step: the checkpoint its text line names, as
	// export --json gives them.
	for _, k := range []string{"n", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck150", "auc", "per_joint_mm", "checkpoint", "epoch", "step"} {
		if _, ok := ev[k]; !ok {
			t.Fatalf("eval --json lacks %s: %v", k, ev)
		}
	}
	if ev["mpjpe_mm"].(float64) != last["best_val_mpjpe_mm"].(float64) {
		t.Fatalf("eval MPJPE %v differs from the run's best %v", ev["mpjpe_mm"], last["best_val_mpjpe_mm"])
	}
	// JSON keeps 3DPCK and AUC as fractions (0..1), people read them as
	// percentages, the same numbers everywhere (eval printed "3DPCK@150
	// 0.873" where metrics printed "87.3 %").
	pck, auc := ev["pck150"].(float64), ev["auc"].(float64)
	if !(pck > 0 && pck <= 1 && auc > 0 && auc <= 1) {
		t.Fatalf("eval --json pck150 %v auc %v, want fractions", pck, auc)
	}
	text, _, _ := trainCLI(t, "eval", "--run", id, "--runs-dir", dir)
	show, _, _ := trainCLI(t, "runs", "show", id, "--runs-dir", dir)
	for _, c := range []struct{ name, out, want string }{
		{"eval", text, fmt.Sprintf("3DPCK@150 %8.1f %%", 100*pck)},
		{"eval", text, fmt.Sprintf("AUC       %8.1f %%", 100*auc)},
		{"eval", text, "from best.ckpt: epoch "}, // which model: the best, not the newest
		{"runs show", show, fmt.Sprintf("%.1f %%", 100*pck)},
		{"runs show", show, fmt.Sprintf("%.1f %%", 100*auc)},
	} {
		if !strings.Contains(c.out, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.name, c.want, c.out)
		}
	}
	csv := filepath.Join(dir, "val.csv")
	if out, errs, code = trainCLI(t, "export", "--run", id, "--split", "val", "--format", "csv", "--out", csv, "--runs-dir", dir); code != 0 {
		t.Fatalf("export (%d): %s", code, errs)
	}
	// It names the checkpoint that predicted, as eval does: the best
	// epoch's (epochs counted from 1 on the screen).
	var bestEp map[string]any
	for _, ev := range events {
		if ev["event"] == "epoch" && ev["best"] == true {
			bestEp = ev
		}
	}
	if bestEp == nil {
		t.Fatalf("no best epoch among the events")
	}
	if want := fmt.Sprintf("from best.ckpt: epoch %d, step %d)", int(bestEp["epoch"].(float64))+1, int(bestEp["step"].(float64))); !strings.Contains(out, want) {
		t.Errorf("export says %q, want the checkpoint %q", out, want)
	}
	rows, err := predfile.Read(csv)
	if err != nil || len(rows) != int(ev["n"].(float64)) || rows[3].ID != 3 {
		t.Fatalf("exported CSV: %d rows, %v", len(rows), err)
	}
	if _, _, code = trainCLI(t, "runs", "rm", id, "--runs-dir", dir); code != 0 {
		t.Fatal("runs rm failed")
	}
	if _, err := os.Stat(filepath.Join(dir, id)); !os.IsNotExist(err) {
		t.Fatal("runs rm left the folder")
	}
}

func TestTrainBadFlagsExit2(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"train", "--model", "nope"},
		{"train", "--preset", "huge"},
		{"train", "--epochs", "-3"},
		{"train", "--lr", "-1"},
		{"train", "--loss", "huber"},
		{"train", "--bogus"},
		{"train", "--data", "/no/such/folder"},
		{"train", "--from", "no-such-run", "--preset", "test"},
		{"eval"},
		{"eval", "--run", "nope"},
		{"export", "--run", "x"},
		{"export", "--run", "x", "--out", "a.csv", "--format", "xml"},
		{"runs", "frobnicate"},
		{"runs", "show"},
		{"resume"},
		{"resume", "nope"},
		{"pipeline", "run", "Z"},
	} {
		_, errs, code := trainCLI(t, append(args, "--runs-dir", dir)...)
		if code != 2 || strings.TrimSpace(errs) == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
}

// TestHelperCLITrain is the child of TestCtrlCStopsWithCheckpoint.
func TestHelperCLITrain(t *testing.T) {
	dir := os.Getenv("POSELAB_TEST_CLI_TRAIN")
	if dir == "" {
		t.Skip("helper process for TestCtrlCStopsWithCheckpoint")
	}
	f, _ := os.Create(filepath.Join(dir, "events.jsonl"))
	code := Main([]string{"train", "--model", "sb", "--preset", "test", "--epochs", "500", "--json", "--runs-dir", dir}, f, os.Stderr)
	f.Close()
	os.Exit(code)
}

// Ctrl-C (SIGINT) stops a training run cleanly: a "stopped" state event,
// a checkpoint at the step it stopped, and exit status 130 (so a script's
// next command does not run on an unfinished model).
func TestCtrlCStopsWithCheckpoint(t *testing.T) { signalStopsWithCheckpoint(t, syscall.SIGINT, 130) }

// So does a hang-up (the SSH session of a foreground train dropped): it
// killed the process, without a checkpoint since the last one.
func TestHangUpStopsWithCheckpoint(t *testing.T) { signalStopsWithCheckpoint(t, syscall.SIGHUP, 129) }

func signalStopsWithCheckpoint(t *testing.T, sig syscall.Signal, code int) {
	if sig == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
		t.Skip("SIGHUP is ignored here (nohup): the child inherits that and trains on, as it should")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperCLITrain$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSELAB_TEST_CLI_TRAIN="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
		if bytes.Contains(b, []byte(`"event":"epoch"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never finished an epoch")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(sig)
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != code {
		t.Fatalf("child exited with %v after %v, want exit status %d (interrupted)", err, sig, code)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last, first map[string]any
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	json.Unmarshal([]byte(lines[0]), &first)
	if last["event"] != "state" || last["to"] != "stopped" {
		t.Fatalf("last event %v, want a state change to stopped", last)
	}
	id := first["run"].(string)
	c, err := checkpoints.Load(filepath.Join(dir, id, "checkpoints", "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := trainCLI(t, "runs", "show", id, "--json", "--runs-dir", dir)
	var info map[string]any
	json.Unmarshal([]byte(out), &info)
	if info["state"] != "stopped" || int(info["step"].(float64)) != c.Step {
		t.Fatalf("run state %v at step %v, checkpoint at step %d", info["state"], info["step"], c.Step)
	}
}

// TestHelperCLITrainToStdout is the child of TestClosedStdoutStopsWithCheckpoint.
func TestHelperCLITrainToStdout(t *testing.T) {
	dir := os.Getenv("POSELAB_TEST_CLI_TRAIN_STDOUT")
	if dir == "" {
		t.Skip("helper process for TestClosedStdoutStopsWithCheckpoint")
	}
	os.Exit(Main([]string{"train", "--model", "sb", "--preset", "test", "--epochs", "500", "--json", "--runs-dir", dir}, os.Stdout, os.Stderr))
}

// A train whose output reader went away (poselab train | tee log, and
// the SSH session dropped: the hang-up ended tee) stops its run with a
// checkpoint, as a signal does (exit 141): the next line it wrote killed
// it with SIGPIPE, before the checkpoint when that line came first.
func TestClosedStdoutStopsWithCheckpoint(t *testing.T) {
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperCLITrainToStdout$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSELAB_TEST_CLI_TRAIN_STDOUT="+dir)
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer cmd.Process.Kill()
	id := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var ev map[string]any
		json.Unmarshal(sc.Bytes(), &ev)
		if run, ok := ev["run"].(string); ok && id == "" {
			id = run
		}
		if ev["event"] == "epoch" {
			break
		}
	}
	r.Close() // tee is gone
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 141 {
		t.Fatalf("child exited with %v after its stdout closed, want exit status 141 (stopped)", err)
	}
	c, err := checkpoints.Load(filepath.Join(dir, id, "checkpoints", "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := trainCLI(t, "runs", "show", id, "--json", "--runs-dir", dir)
	var info map[string]any
	json.Unmarshal([]byte(out), &info)
	if info["state"] != "stopped" || int(info["step"].(float64)) != c.Step {
		t.Fatalf("run state %v at step %v, checkpoint at step %d", info["state"], info["step"], c.Step)
	}
}

// Flag values that cannot train are refused up front (exit 2, no run left
// behind): an explicit 0 where 0 means "the preset's", a --data that is a
// file or a folder no loader reads, an unknown or meaningless --data-size.
func TestTrainRefusesBadValuesBeforeCreatingARun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "notes.csv")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	for _, args := range [][]string{
		{"train", "--epochs", "0"},
		{"train", "--batch", "0"},
		{"train", "--ckpt-every", "0"},
		{"train", "--patience", "-1"},
		{"train", "--lr", "0"},
		{"train", "--data", file},
		{"train", "--data", dir},
		{"train", "--data-size", "huge"},
		{"train", "--data", dir, "--data-size", "tiny"},
		{"train", "--tf32"},
		{"pipeline", "run", "C", "--data", "/no/such/folder"},
		{"pipeline", "run", "C", "--data", file},
	} {
		_, errs, code := trainCLI(t, append(args, "--preset", "test", "--runs-dir", runs)...)
		if code != 2 || strings.TrimSpace(errs) == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	if ents, _ := os.ReadDir(runs); len(ents) > 0 {
		out, _, _ := trainCLI(t, "runs", "ls", "--runs-dir", runs)
		if !strings.Contains(out, "no runs") {
			t.Errorf("bad flags left runs behind:\n%s", out)
		}
	}
}

// export's bad --out, --format and --weights names are input errors
// (exit 2) even for a run that exists, and write nothing.
func TestExportBadFileNamesExit2(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if _, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "1", "--runs-dir", runs); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	out, _, _ := trainCLI(t, "runs", "ls", "--json", "--runs-dir", runs)
	var ls []map[string]any
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("runs ls: %q %v", out, err)
	}
	id := ls[0]["id"].(string)
	for _, args := range [][]string{
		{"--out", filepath.Join(dir, "p.txt")},
		{"--out", filepath.Join(dir, "p.json"), "--format", "csv"},
		{"--out", dir},
		{"--weights", filepath.Join(dir, "w.pt")},
	} {
		_, errs, code := trainCLI(t, append([]string{"export", "--run", id, "--runs-dir", runs}, args...)...)
		if code != 2 || strings.TrimSpace(errs) == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("failed exports left files: %v", ents)
	}
}

// A run on a data folder (the real ETH sample) names the folder as it is:
// "data DIR/tiny" read as a subfolder that was never opened.
func TestTrainOnDataFolderNamesIt(t *testing.T) {
	dir := t.TempDir()
	data := ethFolder(t, dir)
	runs := filepath.Join(dir, "runs")
	out, errs, code := trainCLI(t, "train", "--data", data, "--batch", "2", "--epochs", "1", "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ls, _, _ := trainCLI(t, "runs", "ls", "--json", "--runs-dir", runs)
	var rs []map[string]any
	if err := json.Unmarshal([]byte(ls), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("runs ls: %q %v", ls, err)
	}
	show, _, _ := trainCLI(t, "runs", "show", rs[0]["id"].(string), "--runs-dir", runs)
	for _, text := range []string{out, show} {
		if !strings.Contains(text, "data "+data+",") || strings.Contains(text, data+"/") {
			t.Errorf("the data folder is not named as it is:\n%s", text)
		}
	}
}

// ethFolder writes an ETH-layout data folder from the real sample pickles
// (4 Human3.6M frames, used for train and val) with grey 256 x 256 crops
// as images, and returns it.
func ethFolder(t *testing.T, dir string) string {
	t.Helper()
	data := filepath.Join(dir, "eth")
	os.MkdirAll(filepath.Join(data, "h36m", "annot"), 0o755)
	for split, src := range map[string]string{"train": "val", "val": "val", "test": "test"} {
		pkl, err := os.ReadFile("../datasets/h36m/testdata/eth/" + src + ".pkl")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "h36m", "annot", split+".pkl"), pkl, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 256, 256))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 251)
	}
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg",
		"S5/S5_SittingDown.54138969/S5_SittingDown.54138969_002061.jpg",
		"S7/S7_Greeting.55011271/S7_Greeting.55011271_000396.jpg",
		"S8/S8_WalkDog_1.55011271/S8_WalkDog_1.55011271_000026.jpg",
	} {
		p := filepath.Join(data, "h36m", "images", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// A 2D model's validation error is pixels: runs ls, show and --json said
// "35.0 mm" and put it under val_mpjpe_mm.
func TestRunsShow2DErrorInPixels(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	out, errs, code := trainCLI(t, "train", "--model", "sh", "--preset", "test", "--data", ethFolder(t, dir), "--batch", "2", "--epochs", "1", "--runs-dir", runs)
	if code != 0 || !strings.Contains(out, " px") || strings.Contains(out, "baseline (mean pose) -") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	ls, _, _ := trainCLI(t, "runs", "ls", "--runs-dir", runs)
	js, _, _ := trainCLI(t, "runs", "ls", "--json", "--runs-dir", runs)
	var rs []map[string]any
	if err := json.Unmarshal([]byte(js), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("runs ls --json: %q %v", js, err)
	}
	id := rs[0]["id"].(string)
	if v, ok := rs[0]["val_px"].(float64); !ok || v <= 0 || rs[0]["val_mpjpe_mm"] != nil {
		t.Errorf("--json: val_px %v, val_mpjpe_mm %v", rs[0]["val_px"], rs[0]["val_mpjpe_mm"])
	}
	show, _, _ := trainCLI(t, "runs", "show", id, "--runs-dir", runs)
	cmp, _, _ := trainCLI(t, "runs", "compare", id, id, "--runs-dir", runs)
	// Its fixed-mean baseline is pixels too, and kept as the mm one is: the
	// finished line printed it, but runs ls, show and compare said "-".
	base, ok := rs[0]["baseline_px"].(float64)
	if !ok || base <= 0 || rs[0]["baseline_mpjpe_mm"] != nil {
		t.Errorf("--json: baseline_px %v, baseline_mpjpe_mm %v", rs[0]["baseline_px"], rs[0]["baseline_mpjpe_mm"])
	}
	bt := fmt.Sprintf("%.1f px", base)
	if !strings.Contains(out, "baseline (fixed mean 2D pose) "+bt) || !strings.Contains(out, "fixed-mean baseline "+bt) {
		t.Errorf("train's started and finished lines lack the baseline %s:\n%s", bt, out)
	}
	for what, text := range map[string]string{"ls": ls, "show": show, "compare": cmp} {
		if !strings.Contains(text, bt) {
			t.Errorf("runs %s lacks the baseline %s:\n%s", what, bt, text)
		}
	}
	// eval printed "MPJPE 0.00 mm", a perfect score, for a 2D model.
	ev, _, code := trainCLI(t, "eval", "--run", id, "--runs-dir", runs)
	if code != 0 || !strings.Contains(ev, "PCKh@0.5") {
		t.Errorf("eval of a 2D run: exit %d:\n%s", code, ev)
	}
	evj, _, _ := trainCLI(t, "eval", "--run", id, "--json", "--runs-dir", runs)
	var m map[string]any
	if err := json.Unmarshal([]byte(evj), &m); err != nil || m["error_px"] == nil || m["mpjpe_mm"] != nil || m["step"] == nil || m["checkpoint"] == nil {
		t.Errorf("eval --json of a 2D run: %q %v", evj, err)
	}
	// pckh50 is a fraction like pck150; the text shows it in percent.
	if p, ok := m["pckh50"].(float64); !ok || p < 0 || p > 1 || !strings.Contains(ev, fmt.Sprintf("PCKh@0.5  %8.1f %%", 100*p)) {
		t.Errorf("eval pckh50 %v (a fraction?) against its text:\n%s", m["pckh50"], ev)
	}
	for _, text := range []string{ls, show, cmp, ev} {
		if !strings.Contains(text, " px") || strings.Contains(text, "0 mm") {
			t.Errorf("a 2D run's error is not in pixels:\n%s", text)
		}
	}
	// Its skeleton samples' errors are the engine's, in the original
	// image's pixels as its val 2D error (they were the crop's: a bare
	// "38.5 px" beside "val 2D error 212.5 px" read as a sample five times
	// better than the mean).
	if sk, _, _ := trainCLI(t, "runs", "skeletons", id, "--runs-dir", runs); !strings.Contains(sk, " px") || strings.Contains(sk, "crop px") {
		t.Errorf("runs skeletons of a 2D run:\n%s", sk)
	}
}

// A relative --data is kept absolute in the run's spec: resumed, evaluated
// or exported from another working directory, "eth" named another folder
// or none.
func TestTrainKeepsTheDataFolderAbsolute(t *testing.T) {
	dir := t.TempDir()
	ethFolder(t, dir)
	t.Chdir(dir)
	runs := filepath.Join(dir, "runs")
	if _, errs, code := trainCLI(t, "train", "--data", "eth", "--batch", "2", "--epochs", "1", "--runs-dir", runs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	js, _, _ := trainCLI(t, "runs", "ls", "--json", "--runs-dir", runs)
	var rs []map[string]any
	if err := json.Unmarshal([]byte(js), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("runs ls --json: %q %v", js, err)
	}
	t.Chdir(t.TempDir())
	if data := rs[0]["spec"].(map[string]any)["data"]; data != filepath.Join(dir, "eth") {
		t.Errorf("spec data %q, want %q", data, filepath.Join(dir, "eth"))
	}
	if _, errs, code := trainCLI(t, "eval", "--run", rs[0]["id"].(string), "--runs-dir", runs); code != 0 {
		t.Errorf("eval from another folder: exit %d: %s", code, errs)
	}
}

// --patience (and a configuration file's patience) ends a run that stopped
// improving: train says why, exits 0 (the run finished), and runs show
// gives the setting and the reason.
func TestTrainPatience(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "run.toml")
	if err := os.WriteFile(conf, []byte("model = \"sb\"\npreset = \"test\"\nepochs = 60\npatience = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"train", "--model", "sb", "--preset", "test", "--epochs", "60", "--patience", "1"},
		{"train", "--config", conf},
	} {
		out, errs, code := trainCLI(t, append(args, "--runs-dir", dir)...)
		if code != 0 || !strings.Contains(out, "early stop: best val MPJPE") || !strings.Contains(out, "(patience 1)") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
		var id string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "early stop:") {
				id = strings.Fields(l)[1] // "run ID early stop: ..."
			}
		}
		show, _, _ := trainCLI(t, "runs", "show", id, "--runs-dir", dir)
		if !strings.Contains(show, "60 epochs, patience 1 epoch,") || !strings.Contains(show, "state finished (early stop:") {
			t.Fatalf("runs show:\n%s", show)
		}
		// runs log prints the run's log: here its last lines, the end.
		log, _, code := trainCLI(t, "runs", "log", id, "-n", "2", "--runs-dir", dir)
		if lines := strings.Split(strings.TrimSpace(log), "\n"); code != 0 || len(lines) != 2 ||
			!strings.Contains(lines[1], "finished: val MPJPE") || !strings.Contains(lines[1], "; early stop: best val MPJPE") {
			t.Fatalf("runs log -n 2: exit %d\n%s", code, log)
		}
		if _, errs, code := trainCLI(t, "runs", "log", id, "-n", "-1", "--runs-dir", dir); code != 2 || !strings.Contains(errs, "-n") {
			t.Fatalf("runs log -n -1: exit %d, %s", code, errs)
		}
	}
}

// resume RUN --epochs N extends a finished run; without it, resume of a
// finished run says how; a bad --epochs is refused.
func TestResumeExtendsAFinishedRun(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "2", "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ev struct{ Run string }
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &ev)
	if _, errs, code := trainCLI(t, "resume", ev.Run, "--runs-dir", dir); code != 2 || !strings.Contains(errs, "--epochs N") {
		t.Fatalf("resume of a finished run: exit %d, %q", code, errs)
	}
	if _, errs, code := trainCLI(t, "resume", ev.Run, "--epochs", "2", "--runs-dir", dir); code != 2 || !strings.Contains(errs, "has trained 2 epochs") {
		t.Fatalf("resume --epochs 2: exit %d, %q", code, errs)
	}
	out, errs, code = trainCLI(t, "resume", ev.Run, "--epochs", "3", "--runs-dir", dir)
	if code != 0 || !strings.Contains(out, "epoch 3 step") || !strings.Contains(out, "finished: val MPJPE") {
		t.Fatalf("resume --epochs 3: exit %d\n%s%s", code, out, errs)
	}
	show, _, _ := trainCLI(t, "runs", "show", ev.Run, "--runs-dir", dir)
	if !strings.Contains(show, "3 epochs,") || !strings.Contains(show, "state finished") || !strings.Contains(show, "epoch 3") {
		t.Fatalf("runs show:\n%s", show)
	}
}

// A split without labels (the test split holds them back): eval names it
// and what writes its predictions ("evaluate: this split has no labels").
func TestEvalOfAnUnlabelledSplitSaysWhatToDo(t *testing.T) {
	recs := []datasets.Record{{ID: 0}}
	_, err := engine.Evaluate3D(recs, []engine.Prediction{{ID: 0, Has3D: true}})
	if !errors.Is(err, engine.ErrNoLabels) {
		t.Fatalf("Evaluate3D of unlabelled records: %v", err)
	}
	msg := evalError(err, "sb-1", "sb", datasets.Test).Error()
	if !strings.Contains(msg, "the test split has no labels") || !strings.Contains(msg, "poselab export --run sb-1 --split test") {
		t.Fatalf("eval says %q", msg)
	}
	// A 2D model's run: export writes SH's 2D predictions (JSON), and they feed SB.
	msg = evalError(err, "sh-1", "sh", datasets.Test).Error()
	if !strings.Contains(msg, "the test split has no labels") || !strings.Contains(msg, "poselab export --run sh-1 --split test)") || !strings.Contains(msg, "poselab train --model sb --from sh-1") {
		t.Fatalf("eval of SH says %q", msg)
	}
}

// pipeline run --patience gives every stage the patience, as train's does
// for one run.
func TestPipelinePatience(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "pipeline", "run", "C", "--preset", "test", "--patience", "2", "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	var ev struct{ Run string }
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &ev)
	show, _, _ := trainCLI(t, "runs", "show", ev.Run, "--runs-dir", dir)
	if !strings.Contains(show, "patience 2 epochs") {
		t.Fatalf("runs show %s:\n%s", ev.Run, show)
	}
	if _, errs, code := trainCLI(t, "pipeline", "run", "C", "--patience", "-1", "--runs-dir", dir); code != 2 || !strings.Contains(errs, "--patience") {
		t.Fatalf("--patience -1: exit %d, %s", code, errs)
	}
}
