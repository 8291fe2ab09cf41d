package engine

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// The parts of the run store that let poselab processes sharing a runs
// directory follow each other's runs (watch.go): what changed, the steps
// and validations stored since, the newest skeleton samples, and the
// pause/resume/stop requests addressed to the process that trains a run.

// runUpdates returns every run's row update time (Unix seconds).
func (s *store) runUpdates() (map[string]float64, error) {
	rows, err := s.db.Query(`SELECT id, COALESCE(updated, 0) FROM runs`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var id string
		var at float64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

// stepsAfter reads a run's stored steps numbered above step, in order.
func (s *store) stepsAfter(run string, step int) ([]StepPoint, error) {
	return s.stepRows(nil, `SELECT step, epoch, COALESCE(loss, 'NaN'), lr, time FROM steps WHERE run=? AND step>? ORDER BY step`, run, step)
}

// stepsBetween reads a run's stored steps numbered above lo and up to hi,
// in order (the primary key's range: cheap on long runs).
func (s *store) stepsBetween(run string, lo, hi int) ([]StepPoint, error) {
	return s.stepRows(nil, `SELECT step, epoch, COALESCE(loss, 'NaN'), lr, time FROM steps WHERE run=? AND step>? AND step<=? ORDER BY step`, run, lo, hi)
}

// stepsRewritten reads, in step order, a run's steps up to hi stored after
// a time (Unix seconds): those a run trained since, also again after it
// went back to a checkpoint (they replaced the old ones). A run stores its
// steps in order, so they are the rows from hi down to the first older
// one: read backwards, it costs the new rows, not the run's length.
func (s *store) stepsRewritten(run string, after float64, hi int) ([]StepPoint, error) {
	out, err := s.stepRows(func(p StepPoint) bool { return !(p.Time > after) },
		`SELECT step, epoch, COALESCE(loss, 'NaN'), lr, time FROM steps WHERE run=? AND step<=? ORDER BY step DESC`, run, hi)
	slices.Reverse(out)
	return out, err
}

// lastStep is the highest stored step of a run (-1: none) and when it was
// stored (Unix seconds, 0: none).
func (s *store) lastStep(run string) (int, float64, error) {
	var n int
	var at any
	err := s.db.QueryRow(`SELECT step, time FROM steps WHERE run=? ORDER BY step DESC LIMIT 1`, run).Scan(&n, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, 0, nil
	}
	if t := toFloat(at); err == nil && t > 0 {
		return n, t, nil
	}
	return n, 0, err
}

// lastEpochTime is when the run's newest validation was stored (0: none).
func (s *store) lastEpochTime(run string) (float64, error) {
	var at float64
	err := s.db.QueryRow(`SELECT COALESCE(MAX(time), 0) FROM epochs WHERE run=?`, run).Scan(&at)
	return at, err
}

// stepRows reads steps; until, when not nil, ends the reading at the
// first row it holds for (not returned).
func (s *store) stepRows(until func(StepPoint) bool, query string, args ...any) ([]StepPoint, error) {
	rows, err := s.db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StepPoint
	for rows.Next() {
		var p StepPoint
		var loss, at any
		if err := rows.Scan(&p.Step, &p.Epoch, &loss, &p.LR, &at); err != nil {
			return nil, err
		}
		p.Loss, p.Time = toFloat(loss), toFloat(at)
		if until != nil && until(p) {
			break
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// putSamples keeps the skeleton samples of a run's newest validation (one
// row per run: an SH sample carries its crop, tens of KiB).
func (s *store) putSamples(run string, epoch, step int, samples []PoseSample) error {
	if len(samples) == 0 {
		return nil
	}
	b, err := json.Marshal(samples)
	if err != nil { // a NaN prediction: nothing to draw
		return fmt.Errorf("samples of epoch %d: %w", epoch+1, err)
	}
	_, err = s.db.Exec(`INSERT OR REPLACE INTO samples(run, epoch, step, data) VALUES(?,?,?,?)`, run, epoch, step, string(b))
	return err
}

// samples returns the newest stored skeleton samples of a run and the
// epoch they belong to; none is not an error.
func (s *store) samples(run string) ([]PoseSample, int, error) {
	var epoch int
	var data string
	err := s.db.QueryRow(`SELECT epoch, data FROM samples WHERE run=?`, run).Scan(&epoch, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var out []PoseSample
	if err := json.Unmarshal([]byte(data), &out); err != nil {
		return nil, 0, fmt.Errorf("samples of run %s: %w", run, err)
	}
	scoreSamples(out) // a store from before samples carried their error
	return out, epoch, nil
}

// A request asks the process that trains a run to pause, resume or stop
// it; that process applies it at its next look at the store.
type request struct {
	Run, Action string
	At          float64 // Unix seconds, as stored
	PID         int     // the process that asked
}

// Request actions.
const (
	reqPause  = "pause"
	reqResume = "resume"
	reqStop   = "stop"
)

func (s *store) putRequest(run, action string) error {
	_, err := s.db.Exec(`INSERT OR REPLACE INTO requests(run, action, time, pid) VALUES(?,?,?,?)`, run, action, unix(time.Now()), os.Getpid())
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	return nil
}

func (s *store) requests() ([]request, error) {
	rows, err := s.db.Query(`SELECT run, action, COALESCE(time, 0), COALESCE(pid, 0) FROM requests`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []request
	for rows.Next() {
		var q request
		if err := rows.Scan(&q.Run, &q.Action, &q.At, &q.PID); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// dropRequest removes a request once handled; one asked again meanwhile
// (a newer time) stays.
func (s *store) dropRequest(q request) error {
	_, err := s.db.Exec(`DELETE FROM requests WHERE run=? AND COALESCE(time, 0)<=?`, q.Run, q.At)
	return err
}
