package engine

import (
	"database/sql"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A 2D model's validation (px, PCKh, per-joint px) survives the store,
// also in a store written before those columns existed.
func TestStoreKeeps2DEpochs(t *testing.T) {
	dir := t.TempDir()
	// A store as the first version wrote it, with one 3D epoch.
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DBName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE epochs(
  run TEXT, epoch INTEGER, step INTEGER, train_loss REAL, val_loss REAL,
  val_mpjpe_mm REAL, val_p_mpjpe_mm REAL, val_n_mpjpe_mm REAL, val_pck150 REAL, val_auc REAL,
  per_joint_mm TEXT, per_action_mm TEXT, best INTEGER, time REAL, PRIMARY KEY(run, epoch));
INSERT INTO epochs VALUES('sb-1', 0, 10, 1, 1, 80, 60, 70, 0.5, 0.3, '[1,2]', '{}', 1, 0);`); err != nil {
		t.Fatal(err)
	}
	// A 2D epoch as the next version wrote it: PCKh in percent.
	if _, err := old.Exec(`ALTER TABLE epochs ADD COLUMN val_px REAL; ALTER TABLE epochs ADD COLUMN val_pckh50 REAL; ALTER TABLE epochs ADD COLUMN per_joint_px TEXT;
INSERT INTO epochs VALUES('sh-0', 0, 10, 1, 1, NULL, NULL, NULL, NULL, NULL, '[]', '{}', 1, 0, 30.5, 43.25, '[1]');`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	for reopen := 0; reopen < 2; reopen++ { // the second open finds the columns there
		st, err := openStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		if reopen == 0 {
			if err := st.addEpoch("sh-1", &EpochInfo{Epoch: 0, Step: 5, TrainLoss: 0.1, Pixel: 12.5, PCKh: 0.6125, PerJointPx: []float64{1, 2, 3}, Best: true}); err != nil {
				t.Fatal(err)
			}
		}
		sh, err := st.epochs("sh-1")
		if err != nil || len(sh) != 1 {
			t.Fatalf("epochs: %v %v", sh, err)
		}
		if e := sh[0]; e.Pixel != 12.5 || e.PCKh != 0.6125 || !slices.Equal(e.PerJointPx, []float64{1, 2, 3}) {
			t.Errorf("2D epoch read back as px %v PCKh %v per joint %v", e.Pixel, e.PCKh, e.PerJointPx)
		}
		// The old percentage reads as a fraction like val_pck150, once:
		// the second open leaves it alone.
		sh0, err := st.epochs("sh-0")
		if err != nil || len(sh0) != 1 {
			t.Fatalf("old 2D epochs: %v %v", sh0, err)
		}
		if e := sh0[0]; e.Pixel != 30.5 || math.Abs(e.PCKh-0.4325) > 1e-12 {
			t.Errorf("old 2D epoch (open %d) read back as px %v PCKh %v, want 30.5 px, 0.4325", reopen+1, e.Pixel, e.PCKh)
		}
		sb, err := st.epochs("sb-1")
		if err != nil || len(sb) != 1 {
			t.Fatalf("old epochs: %v %v", sb, err)
		}
		if e := sb[0]; e.MPJPE != 80 || e.PCK150 != 0.5 || e.AUC != 0.3 || e.Pixel != 0 || e.PCKh != 0 || e.PerJointPx != nil || !slices.Equal(e.PerJoint, []float64{1, 2}) {
			t.Errorf("old 3D epoch read back as %+v", e)
		}
		st.close()
	}
}

// Stored steps come back with the time they ended (viewers draw stored
// runs on the wall-clock axis), NaN where none was kept.
func TestStoreKeepsStepTimes(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	at := time.Unix(1_700_000_000, 500_000_000)
	if err := st.addSteps("r", []stepRow{{Step: 0, Loss: 1, LR: 1e-3, Time: at}, {Step: 1, Loss: 0.5, LR: 1e-3}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.steps("r")
	if err != nil || len(got) != 2 {
		t.Fatalf("steps %v, %v", got, err)
	}
	if got[0].Time != 1_700_000_000.5 || !math.IsNaN(got[1].Time) {
		t.Fatalf("times %v and %v, want 1700000000.5 and NaN", got[0].Time, got[1].Time)
	}
}

// A poselab built before PCKh was a fraction may still be training in the
// background (nohup poselab train) when a newer one opens the store and
// converts it: the rows the older process writes afterwards hold
// percentages, and read as fractions like every other row.
func TestStoreReadsPCKhOfAnOlderProcessAsAFraction(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir) // converts the (empty) store
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if err := st.addEpoch("sh-new", &EpochInfo{Epoch: 0, Step: 5, Pixel: 12.5, PCKh: 0.6125}); err != nil {
		t.Fatal(err)
	}
	// The older process's INSERT, as it was written then.
	if _, err := st.db.Exec(`INSERT OR REPLACE INTO epochs(run, epoch, step, train_loss, val_loss, val_mpjpe_mm, val_p_mpjpe_mm,
		val_n_mpjpe_mm, val_pck150, val_auc, per_joint_mm, per_action_mm, best, time, val_px, val_pckh50, per_joint_px)
		VALUES('sh-old', 0, 5, 1, 1, NULL, NULL, NULL, NULL, NULL, '[]', '{}', 1, 0, 30.5, 43.25, '[1]')`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		run  string
		want float64
	}{{"sh-new", 0.6125}, {"sh-old", 0.4325}} {
		eps, err := st.epochs(c.run)
		if err != nil || len(eps) != 1 {
			t.Fatalf("%s: %v %v", c.run, eps, err)
		}
		if math.Abs(eps[0].PCKh-c.want) > 1e-12 {
			t.Errorf("%s: PCKh %v, want %v", c.run, eps[0].PCKh, c.want)
		}
	}
}

// A 2D run's fixed-mean baseline (px) is kept in its row as a 3D run's
// mean-pose baseline (mm) is, also in a store written before the
// baseline_px column (and eta_s) existed: it opens, gains the column, and
// its old rows read as no baseline.
func TestStoreKeepsBaselinePx(t *testing.T) {
	dir := t.TempDir()
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DBName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE runs(
  id TEXT PRIMARY KEY, name TEXT, model TEXT, preset TEXT, pipeline TEXT,
  state TEXT, reason TEXT, step INTEGER, epoch INTEGER, total_steps INTEGER, steps_per_epoch INTEGER,
  last_loss REAL, last_val_mpjpe_mm REAL, best_val_mpjpe_mm REAL, baseline_mpjpe_mm REAL,
  samples_per_s REAL, device TEXT, created REAL, started REAL, updated REAL);
INSERT INTO runs(id, state, step, baseline_mpjpe_mm) VALUES('sb-1', 'finished', 10, 150.5), ('sh-1', 'finished', 10, NULL);`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	for reopen := 0; reopen < 2; reopen++ { // the second open finds the column there
		st, err := openStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		sb := RunInfo{Spec: Spec{ID: "sb-1"}}
		sh := RunInfo{Spec: Spec{ID: "sh-1"}}
		if err := st.readRun(&sb); err != nil {
			t.Fatal(err)
		}
		if err := st.readRun(&sh); err != nil {
			t.Fatal(err)
		}
		if sb.BaselineMPJPE != 150.5 || !math.IsNaN(sb.BaselinePx) || sb.Step != 10 {
			t.Errorf("open %d: old 3D row read back as baseline %v mm, %v px, step %d", reopen+1, sb.BaselineMPJPE, sb.BaselinePx, sb.Step)
		}
		switch reopen {
		case 0:
			if !math.IsNaN(sh.BaselinePx) || !math.IsNaN(sh.BaselineMPJPE) {
				t.Errorf("old 2D row read back as baseline %v px, %v mm; want none", sh.BaselinePx, sh.BaselineMPJPE)
			}
			sh.BaselinePx = 41.25
			if err := st.updateRun(sh); err != nil {
				t.Fatal(err)
			}
		case 1:
			if sh.BaselinePx != 41.25 || !math.IsNaN(sh.BaselineMPJPE) {
				t.Errorf("2D row read back as baseline %v px, %v mm; want 41.25 px, none in mm", sh.BaselinePx, sh.BaselineMPJPE)
			}
		}
		st.close()
	}
}

// A run's newest resource sample is kept in its row for the other
// processes, also in a store written before the res_ columns existed: it
// opens, gains them, and its old rows read as no sample.
func TestStoreKeepsTheResourceSample(t *testing.T) {
	dir := t.TempDir()
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DBName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE runs(
  id TEXT PRIMARY KEY, name TEXT, model TEXT, preset TEXT, pipeline TEXT,
  state TEXT, reason TEXT, step INTEGER, epoch INTEGER, total_steps INTEGER, steps_per_epoch INTEGER,
  last_loss REAL, last_val_mpjpe_mm REAL, best_val_mpjpe_mm REAL, baseline_mpjpe_mm REAL,
  samples_per_s REAL, device TEXT, created REAL, started REAL, updated REAL, eta_s REAL, baseline_px REAL);
INSERT INTO runs(id, state, step, device, samples_per_s) VALUES('sb-1', 'running', 10, 'NVIDIA H100', 900);`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	at := time.Unix(1795740000, 250e6)
	want := Resource{Device: "NVIDIA H100", MemUsedBytes: 5 << 30, MemTotalBytes: 80 << 30, MemKind: MemDevice, GPUUtil: 97, SamplesPerSec: 1234.5}
	for reopen := 0; reopen < 2; reopen++ { // the second open finds the columns there
		st, err := openStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		info := RunInfo{Spec: Spec{ID: "sb-1"}}
		if err := st.readRun(&info); err != nil {
			t.Fatal(err)
		}
		if info.Step != 10 || info.SamplesPerSec != 900 {
			t.Errorf("open %d: old row read back as step %d, %v samples/s", reopen+1, info.Step, info.SamplesPerSec)
		}
		switch reopen {
		case 0:
			if info.Resource != nil || !info.ResourceAt.IsZero() {
				t.Errorf("old row read back with a resource sample %+v at %v", info.Resource, info.ResourceAt)
			}
			if err := st.putResource("sb-1", &want, at); err != nil {
				t.Fatal(err)
			}
		case 1:
			if info.Resource == nil || *info.Resource != want || info.ResourceAt.Sub(at).Abs() > time.Microsecond {
				t.Errorf("resource sample read back as %+v at %v, want %+v at %v", info.Resource, info.ResourceAt, want, at)
			}
		}
		st.close()
	}
}
