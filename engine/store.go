package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"poselab/internal/atomicfile"
)

// The run store. Every run has a folder runs/<id>/ with config.toml (its
// Spec), checkpoints/, outputs/ and log; the numbers of all runs
// of a runs directory live in one SQLite database, runs/poselab.db, that
// users may query directly:
//
//	runs(id, name, model, preset, pipeline, state, reason, step, epoch, total_steps,
//	     steps_per_epoch, last_loss, last_val_mpjpe_mm, best_val_mpjpe_mm,
//	     baseline_mpjpe_mm, samples_per_s, device, created, started, updated,
//	     eta_s, baseline_px,     -- eta_s: time left when updated; baseline_px: 2D models'
//	     res_mem_used_bytes, res_mem_total_bytes, res_mem_kind, res_gpu_util,
//	     res_samples_per_s, res_time)  -- the newest resource sample stored (putResource)
//	steps(run, step, epoch, loss, lr, time)             -- every training step
//	epochs(run, epoch, step, train_loss, val_loss, val_mpjpe_mm, val_p_mpjpe_mm,
//	       val_n_mpjpe_mm, val_pck150, val_auc, per_joint_mm, per_action_mm, best, time,
//	       val_px, val_pckh50, per_joint_px)               -- the last three: 2D models
//	samples(run, epoch, step, data)   -- the newest validation's skeleton samples (JSON)
//	requests(run, action, time, pid)  -- pause/resume/stop asked of the process training a run
//
// Times are Unix seconds (float). per_joint_mm, per_action_mm and
// per_joint_px are JSON. val_pck150, val_auc and val_pckh50 are fractions
// (0..1); stores whose val_pckh50 held percentages (user_version 0) are
// converted on open (migrateUnits), and a val_pckh50 over 1 written since
// by an older poselab still running reads as a percentage (epochsSince).
// Several poselab processes may share a runs directory: each one trains
// the runs it holds the lock of (runs/<id>/.lock, which names its pid),
// and follows the others' runs through these tables (see watch.go).
type store struct {
	dir string
	db  *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, name TEXT, model TEXT, preset TEXT, pipeline TEXT,
  state TEXT, reason TEXT, step INTEGER, epoch INTEGER, total_steps INTEGER, steps_per_epoch INTEGER,
  last_loss REAL, last_val_mpjpe_mm REAL, best_val_mpjpe_mm REAL, baseline_mpjpe_mm REAL,
  samples_per_s REAL, device TEXT, created REAL, started REAL, updated REAL, eta_s REAL, baseline_px REAL,
  res_mem_used_bytes INTEGER, res_mem_total_bytes INTEGER, res_mem_kind TEXT, res_gpu_util REAL,
  res_samples_per_s REAL, res_time REAL);
CREATE TABLE IF NOT EXISTS steps(
  run TEXT, step INTEGER, epoch INTEGER, loss REAL, lr REAL, time REAL, PRIMARY KEY(run, step));
CREATE TABLE IF NOT EXISTS epochs(
  run TEXT, epoch INTEGER, step INTEGER, train_loss REAL, val_loss REAL,
  val_mpjpe_mm REAL, val_p_mpjpe_mm REAL, val_n_mpjpe_mm REAL, val_pck150 REAL, val_auc REAL,
  per_joint_mm TEXT, per_action_mm TEXT, best INTEGER, time REAL,
  val_px REAL, val_pckh50 REAL, per_joint_px TEXT, PRIMARY KEY(run, epoch));
CREATE TABLE IF NOT EXISTS samples(run TEXT PRIMARY KEY, epoch INTEGER, step INTEGER, data TEXT);
CREATE TABLE IF NOT EXISTS requests(run TEXT PRIMARY KEY, action TEXT, time REAL, pid INTEGER);
`

// DBName is the run store's database file inside the runs directory.
const DBName = "poselab.db"

func openStore(dir string) (*store, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		// "mkdir DIR: not a directory" said what failed, not what to give
		return nil, fmt.Errorf("runs directory %s is a file: want a folder (made if missing)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if _, serr := os.Stat(dir); serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			err = serr // a symbolic link loop: mkdir says "file exists"
		}
		return nil, fmt.Errorf("runs directory %s: %w", dir, err)
	}
	dsn := "file:" + filepath.Join(dir, DBName) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", filepath.Join(dir, DBName), err)
	}
	if err := addMissingColumns(db, "runs", runColumnsAdded); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", filepath.Join(dir, DBName), err)
	}
	if err := addMissingColumns(db, "epochs", epochColumns2D); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", filepath.Join(dir, DBName), err)
	}
	if err := migrateUnits(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", filepath.Join(dir, DBName), err)
	}
	return &store{dir: dir, db: db}, nil
}

// runColumnsAdded are the runs columns later versions added; stores
// written before them get them on open, their old rows NULL. eta_s is a
// training run's time left as its own process reckons it (validations and
// checkpoints included), so that the processes watching it show the same
// ETA; without it, watchers reckon from samples_per_s. baseline_px is a 2D
// model's fixed-mean baseline (px): baseline_mpjpe_mm, in mm, has none.
// The res_ columns are the newest resource sample of the process that
// trains the run (putResource), which the other processes show: a run's
// device is its row's device.
var runColumnsAdded = [][2]string{{"eta_s", "REAL"}, {"baseline_px", "REAL"},
	{"res_mem_used_bytes", "INTEGER"}, {"res_mem_total_bytes", "INTEGER"}, {"res_mem_kind", "TEXT"},
	{"res_gpu_util", "REAL"}, {"res_samples_per_s", "REAL"}, {"res_time", "REAL"}}

// epochColumns2D hold a 2D model's validation (mean joint error in px,
// PCKh@0.5 as a fraction, per-joint px). Stores written before they existed
// get them added on open; their old rows read as 0 and empty.
var epochColumns2D = [][2]string{{"val_px", "REAL"}, {"val_pckh50", "REAL"}, {"per_joint_px", "TEXT"}}

// storeVersion is the run store's PRAGMA user_version: 0, val_pckh50 in
// percent (0..100) while val_pck150 and val_auc were fractions; 1, all
// three fractions (0..1), as JSON output has them.
const storeVersion = 1

// migrateUnits brings an older store's numbers to storeVersion's units.
// BEGIN IMMEDIATE takes the write lock before reading the version, so two
// processes opening the same old store convert it once, not twice.
func migrateUnits(db *sql.DB) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v >= storeVersion {
		return nil // the common case: no write lock taken
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err = func() error {
		if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v >= storeVersion {
			return err
		}
		if _, err := conn.ExecContext(ctx, "UPDATE epochs SET val_pckh50 = val_pckh50 / 100 WHERE val_pckh50 IS NOT NULL"); err != nil {
			return fmt.Errorf("converting val_pckh50 to a fraction: %w", err)
		}
		_, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", storeVersion))
		return err
	}()
	if err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// addMissingColumns adds the columns table lacks (SQLite has no ADD
// COLUMN IF NOT EXISTS).
func addMissingColumns(db *sql.DB, table string, cols [][2]string) error {
	rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		have[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cols {
		if have[c[0]] {
			continue
		}
		if _, err := db.Exec(fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, c[0], c[1])); err != nil {
			// Another process opening the same old store may have added
			// it in the meantime.
			if strings.Contains(err.Error(), "duplicate column") {
				continue
			}
			return fmt.Errorf("adding column %s.%s: %w", table, c[0], err)
		}
	}
	return nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) runDir(id string) string { return filepath.Join(s.dir, id) }

// nullable turns NaN/Inf into SQL NULL.
func nullable(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// etaSeconds is what a run's row keeps of its ETA: NULL when there is
// none (not training, or no pace yet).
func etaSeconds(r RunInfo) any {
	if r.State != Running || r.ETA <= 0 {
		return nil
	}
	return r.ETA.Seconds()
}

func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixNano()) / 1e9
}

// newID makes and reserves (creates the folder of) a readable, unique run
// ID: <model>-<yymmdd-hhmmss>[-n]. Mkdir is atomic, so two processes never
// get the same ID.
func (s *store) newID(model string, now time.Time) (string, error) {
	base := fmt.Sprintf("%s-%s", model, now.UTC().Format("060102-150405"))
	id := base
	for n := 2; ; n++ {
		err := os.Mkdir(s.runDir(id), 0o755)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("run folder: %w", err)
		}
		id = fmt.Sprintf("%s-%d", base, n)
	}
}

// createRun makes the run's folder and config.toml and inserts its row.
func (s *store) createRun(info RunInfo) error {
	dir := s.runDir(info.Spec.ID)
	for _, sub := range []string{"checkpoints", "outputs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := s.writeSpec(info.Spec); err != nil {
		return err
	}
	_, err := s.db.Exec(`INSERT INTO runs(id, created) VALUES(?, ?)`, info.Spec.ID, unix(time.Now()))
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	return s.updateRun(info)
}

func (s *store) writeSpec(spec Spec) error {
	b, err := toml.Marshal(spec)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.runDir(spec.ID), "config.toml"), b)
}

// rereadSpec takes info's spec from its config.toml again (kept as it
// was when that does not read): another process may have extended the
// run (Extend) since this one listed it, and a resume here must train to
// the new epoch count. Called before readRun, which completes the spec's
// schedule from the row.
func (s *store) rereadSpec(info *RunInfo) {
	if spec, err := readSpec(filepath.Join(s.runDir(info.Spec.ID), "config.toml")); err == nil {
		spec.ID = info.Spec.ID
		info.Spec = spec
	}
}

func readSpec(path string) (Spec, error) {
	var spec Spec
	b, err := os.ReadFile(path)
	if err != nil {
		return spec, err
	}
	if err := toml.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("%s: %w", path, err)
	}
	return spec, nil
}

func (s *store) updateRun(r RunInfo) error {
	_, err := s.db.Exec(`UPDATE runs SET name=?, model=?, preset=?, pipeline=?, state=?, reason=?, step=?, epoch=?,
		total_steps=?, steps_per_epoch=?, last_loss=?, last_val_mpjpe_mm=?, best_val_mpjpe_mm=?, baseline_mpjpe_mm=?,
		samples_per_s=?, device=?, started=?, updated=?, eta_s=?, baseline_px=? WHERE id=?`,
		r.Spec.Name, r.Spec.Model, r.Spec.Preset, r.Spec.Pipeline, string(r.State), r.Reason, r.Step, r.Epoch,
		r.TotalSteps, r.StepsPerEpoch, nullable(r.LastLoss), nullable(r.LastValMPJPE), nullable(r.BestValMPJPE),
		nullable(r.BaselineMPJPE), nullable(r.SamplesPerSec), r.Device, unix(r.Started), unix(time.Now()), etaSeconds(r),
		nullable(r.BaselinePx), r.Spec.ID)
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	return nil
}

// putResource stores a run's newest resource sample, taken at a time.
// It leaves the row's update time alone: that dates the row's ETA (eta_s),
// and watchers look at res_time for new samples.
// A nil res clears it: the run has none of its new session yet.
func (s *store) putResource(run string, res *Resource, at time.Time) error {
	if res == nil {
		_, err := s.db.Exec(`UPDATE runs SET res_mem_used_bytes=NULL, res_mem_total_bytes=NULL, res_mem_kind=NULL, res_gpu_util=NULL,
		res_samples_per_s=NULL, res_time=NULL WHERE id=?`, run)
		if err != nil {
			return fmt.Errorf("run store: %w", err)
		}
		return nil
	}
	_, err := s.db.Exec(`UPDATE runs SET res_mem_used_bytes=?, res_mem_total_bytes=?, res_mem_kind=?, res_gpu_util=?,
		res_samples_per_s=?, res_time=? WHERE id=?`,
		res.MemUsedBytes, res.MemTotalBytes, res.MemKind, nullable(res.GPUUtil), nullable(res.SamplesPerSec), unix(at), run)
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	return nil
}

type stepRow struct {
	Step, Epoch int
	Loss, LR    float64
	Time        time.Time
}

func (s *store) addSteps(run string, rows []stepRow) error {
	if len(rows) == 0 {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	st, err := tx.Prepare(`INSERT OR REPLACE INTO steps(run, step, epoch, loss, lr, time) VALUES(?,?,?,?,?,?)`)
	if err != nil {
		tx.Rollback()
		return err
	}
	for _, r := range rows {
		if _, err := st.Exec(run, r.Step, r.Epoch, nullable(r.Loss), r.LR, unix(r.Time)); err != nil {
			st.Close()
			tx.Rollback()
			return err
		}
	}
	st.Close()
	return tx.Commit()
}

func (s *store) addEpoch(run string, e *EpochInfo) error {
	pj, _ := json.Marshal(e.PerJoint)
	pa, _ := json.Marshal(e.PerAction)
	px, _ := json.Marshal(e.PerJointPx)
	_, err := s.db.Exec(`INSERT OR REPLACE INTO epochs(run, epoch, step, train_loss, val_loss, val_mpjpe_mm, val_p_mpjpe_mm,
		val_n_mpjpe_mm, val_pck150, val_auc, per_joint_mm, per_action_mm, best, time, val_px, val_pckh50, per_joint_px)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		run, e.Epoch, e.Step, nullable(e.TrainLoss), nullable(e.ValLoss), nullable(e.MPJPE), nullable(e.PMPJPE),
		nullable(e.NMPJPE), nullable(e.PCK150), nullable(e.AUC), string(pj), string(pa), e.Best, unix(time.Now()),
		nullable(e.Pixel), nullable(e.PCKh), string(px))
	return err
}

// StepPoint is one stored training step.
type StepPoint struct {
	Step, Epoch int
	Loss, LR    float64
	Time        float64 // Unix seconds when the step ended; NaN if not stored
}

func (s *store) steps(run string) ([]StepPoint, error) {
	return s.stepsAfter(run, -1)
}

func (s *store) epochs(run string) ([]EpochInfo, error) {
	eps, _, err := s.epochsSince(run, -1)
	return eps, err
}

// epochsSince reads the run's validations stored after a time (Unix
// seconds), in epoch order, with their times.
func (s *store) epochsSince(run string, after float64) ([]EpochInfo, []float64, error) {
	rows, err := s.db.Query(`SELECT epoch, step, train_loss, val_loss, val_mpjpe_mm, val_p_mpjpe_mm, val_n_mpjpe_mm,
		val_pck150, val_auc, per_joint_mm, per_action_mm, best, val_px, val_pckh50, COALESCE(per_joint_px, ''), COALESCE(time, 0)
		FROM epochs WHERE run=? AND COALESCE(time, 0) > ? ORDER BY epoch`, run, after)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []EpochInfo
	var times []float64
	for rows.Next() {
		var e EpochInfo
		var tl, vl, m, pm, nm, pck, auc, px, pckh any
		var pj, pa, pjx string
		var at float64
		if err := rows.Scan(&e.Epoch, &e.Step, &tl, &vl, &m, &pm, &nm, &pck, &auc, &pj, &pa, &e.Best, &px, &pckh, &pjx, &at); err != nil {
			return nil, nil, err
		}
		times = append(times, at)
		e.TrainLoss, e.ValLoss, e.MPJPE, e.PMPJPE, e.NMPJPE, e.PCK150, e.AUC =
			toFloat(tl), toFloat(vl), toFloat(m), toFloat(pm), toFloat(nm), toFloat(pck), toFloat(auc)
		// A 2D model's numbers (NULL in rows of 3D models and of stores
		// older than these columns): 0 means none, as in live epochs.
		e.Pixel, e.PCKh = finiteOr0(toFloat(px)), finiteOr0(toFloat(pckh))
		if e.PCKh > 1 {
			// No fraction is over 1: a percentage, written after the
			// conversion (migrateUnits) by a poselab older than it that
			// was still training in the background (an upgrade while
			// `nohup poselab train` ran). Its INSERT is like this
			// version's, so nothing else tells its rows apart, nor from
			// those of a version that writes fractions.
			e.PCKh /= 100
		}
		json.Unmarshal([]byte(pj), &e.PerJoint)
		json.Unmarshal([]byte(pa), &e.PerAction)
		if pjx != "" {
			json.Unmarshal([]byte(pjx), &e.PerJointPx)
		}
		out = append(out, e)
	}
	return out, times, rows.Err()
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return math.NaN()
}

// loadRuns reads every run of the directory: the spec from config.toml,
// the rest from the database (a folder without a row is shown as stopped).
func (s *store) loadRuns() ([]RunInfo, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	// Oldest first: the creation time of config.toml (IDs hold only seconds).
	type dirAge struct {
		name string
		t    time.Time
	}
	var dirs []dirAge
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.dir, e.Name(), "config.toml"))
		if err != nil {
			continue // not a run folder
		}
		dirs = append(dirs, dirAge{e.Name(), fi.ModTime()})
	}
	sort.SliceStable(dirs, func(i, j int) bool { return dirs[i].t.Before(dirs[j].t) })
	var out []RunInfo
	for _, e := range dirs {
		info, err := s.loadRun(e.name)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// loadRun reads one run: its spec from config.toml, the rest from its row.
func (s *store) loadRun(id string) (RunInfo, error) {
	spec, specErr := readSpec(filepath.Join(s.runDir(id), "config.toml"))
	if specErr != nil { // listed, so that the user learns why it cannot run
		spec = Spec{Name: id}
	}
	spec.ID = id
	info := RunInfo{Spec: spec}
	if err := s.readRun(&info); err != nil {
		return info, err
	}
	if specErr != nil {
		info.State, info.Reason = Failed, "unreadable spec: "+specErr.Error()
	}
	return info, nil
}

// readRun fills a run's summary from its row (info.Spec.ID names it); a
// run without a row reads as stopped.
func (s *store) readRun(info *RunInfo) error {
	info.State, info.LastLoss, info.LastValMPJPE, info.BestValMPJPE, info.BaselineMPJPE = Stopped, math.NaN(), math.NaN(), math.NaN(), math.NaN()
	info.BaselinePx = math.NaN()
	var state, reason, device sql.NullString
	var step, epoch, total, spe sql.NullInt64
	var loss, last, best, base, sps, started, updated, eta, basePx any
	var resUsed, resTotal sql.NullInt64
	var resKind sql.NullString
	var resUtil, resSps, resAt any
	err := s.db.QueryRow(`SELECT state, reason, step, epoch, total_steps, steps_per_epoch, last_loss, last_val_mpjpe_mm,
		best_val_mpjpe_mm, baseline_mpjpe_mm, samples_per_s, device, started, updated, eta_s, baseline_px,
		res_mem_used_bytes, res_mem_total_bytes, res_mem_kind, res_gpu_util, res_samples_per_s, res_time FROM runs WHERE id=?`, info.Spec.ID).
		Scan(&state, &reason, &step, &epoch, &total, &spe, &loss, &last, &best, &base, &sps, &device, &started, &updated, &eta, &basePx,
			&resUsed, &resTotal, &resKind, &resUtil, &resSps, &resAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	info.State, info.Reason, info.Device = State(state.String), reason.String, device.String
	info.Step, info.Epoch, info.TotalSteps, info.StepsPerEpoch = int(step.Int64), int(epoch.Int64), int(total.Int64), int(spe.Int64)
	info.LastLoss, info.LastValMPJPE, info.BestValMPJPE, info.BaselineMPJPE, info.SamplesPerSec =
		toFloat(loss), toFloat(last), toFloat(best), toFloat(base), toFloat(sps)
	info.BaselinePx = toFloat(basePx)
	info.Started, info.Updated = fromUnix(started), fromUnix(updated)
	info.Resource, info.ResourceAt = nil, fromUnix(resAt)
	if !info.ResourceAt.IsZero() { // none in rows of stores older than the res_ columns
		info.Resource = &Resource{Device: info.Device, MemUsedBytes: resUsed.Int64, MemTotalBytes: resTotal.Int64,
			MemKind: resKind.String, GPUUtil: finiteOr0(toFloat(resUtil)), SamplesPerSec: finiteOr0(toFloat(resSps))}
	}
	info.ETA = 0
	if x := toFloat(eta); x > 0 && info.State == Running {
		info.ETA = time.Duration(x * float64(time.Second)) // as of Updated
	}
	if info.Spec.Schedule.StepsPerEpoch == 0 { // config.toml is written before the data is known
		info.Spec.Schedule.StepsPerEpoch = info.StepsPerEpoch
	}
	if sc := &info.Spec.Schedule; sc.Kind == "cosine" && sc.TotalSteps == 0 { // likewise: the run's length
		sc.TotalSteps = info.TotalSteps
	}
	return nil
}

func fromUnix(v any) time.Time {
	f := toFloat(v)
	if math.IsNaN(f) {
		return time.Time{}
	}
	return time.Unix(0, int64(f*1e9))
}

func (s *store) deleteRun(id string) error {
	for _, q := range []string{`DELETE FROM runs WHERE id=?`, `DELETE FROM steps WHERE run=?`, `DELETE FROM epochs WHERE run=?`,
		`DELETE FROM samples WHERE run=?`, `DELETE FROM requests WHERE run=?`} {
		if _, err := s.db.Exec(q, id); err != nil {
			return err
		}
	}
	return os.RemoveAll(s.runDir(id))
}
