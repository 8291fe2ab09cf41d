package predfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"poselab/pose"
)

// NumCSVColumns is the width of the submission CSV: Id plus x, y, z for
// 17 joints.
const NumCSVColumns = 1 + 3*pose.NumJoints

// CSVHeader returns the submission header: Id,Hip_x,Hip_y,Hip_z,...
func CSVHeader() []string {
	h := make([]string, 0, NumCSVColumns)
	h = append(h, "Id")
	for _, n := range pose.JointNames {
		h = append(h, n+"_x", n+"_y", n+"_z")
	}
	return h
}

func parseCSV(data []byte, name string) ([]Row, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // counted below, to name the row
	r.ReuseRecord = true
	want := CSVHeader()
	var rows []Row
	seen := map[int]int{}
	sawHeader := false
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: row %d: %v", name, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: row %d: %w", name, line, err)
		}
		if line == 1 {
			if len(rec) != NumCSVColumns {
				return nil, fmt.Errorf("%s: row 1 (header): %d columns, want %d (Id,Hip_x,...,RWrist_z)", name, len(rec), NumCSVColumns)
			}
			for i := range rec {
				if strings.TrimSpace(strings.TrimPrefix(rec[i], "\ufeff")) != want[i] {
					return nil, fmt.Errorf("%s: row 1 (header): column %d is %q, want %q", name, i+1, rec[i], want[i])
				}
			}
			sawHeader = true
			continue
		}
		if len(rec) != NumCSVColumns {
			return nil, fmt.Errorf("%s: row %d: %d columns, want %d", name, line, len(rec), NumCSVColumns)
		}
		id, err := strconv.Atoi(strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: Id %q is not an integer", name, line, rec[0])
		}
		var row Row
		row.ID = id
		for k := 0; k < 3*pose.NumJoints; k++ {
			s := strings.TrimSpace(rec[1+k])
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: column %s: %q is not a number", name, line, want[1+k], s)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s: row %d: column %s is %v", name, line, want[1+k], v)
			}
			row.Joints[k/3][k%3] = v
		}
		if err := checkDuplicate(seen, id, line, name, "row"); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if !sawHeader {
		return nil, fmt.Errorf("%s: empty file (want a header Id,Hip_x,...,RWrist_z)", name)
	}
	return rows, nil
}

func encodeCSV(rows []Row) ([]byte, error) {
	if err := validate(rows); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(CSVHeader())
	rec := make([]string, NumCSVColumns)
	for _, r := range rows {
		rec[0] = strconv.Itoa(r.ID)
		for j, p := range r.Joints {
			for k, v := range p {
				rec[1+3*j+k] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		w.Write(rec)
	}
	w.Flush()
	return b.Bytes(), w.Error()
}
