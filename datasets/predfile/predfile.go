// Package predfile reads and writes 3D pose prediction files: the seed's
// submission CSV (`Id,Hip_x,...,RWrist_z`), a JSON list of
// {"id", "joints", optional "joints_2d"} and an npz with a float32 `pred`
// [N,17,3] and int64 `ids` [N]. Coordinates are mm in camera space, H36M
// joint order. The format follows the file extension. Readers reject
// duplicate ids, NaN/Inf and wrong shapes with errors that name the file
// and the row; writers are atomic (temp file, fsync, rename).
package predfile

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"poselab/internal/atomicfile"
	"poselab/pose"
)

// Row is one sample's prediction.
type Row struct {
	ID     int
	Joints pose.Pose3D // mm
	// Joints2D is optional (JSON only): pixels of the original image.
	Joints2D *pose.Pose2D
}

// Format names a file format.
type Format string

// The supported formats.
const (
	CSV  Format = "csv"
	JSON Format = "json"
	NPZ  Format = "npz"
)

// FormatOf picks the format from the file extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".json":
		return JSON, nil
	case ".npz":
		return NPZ, nil
	}
	return "", fmt.Errorf("%s: unknown prediction file type %q (want .csv, .json or .npz)", path, filepath.Ext(path))
}

// Read reads a prediction file, choosing the reader by extension.
func Read(path string) ([]Row, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return Parse(data, f, path)
}

// Parse reads prediction rows from bytes in the given format; name only
// labels errors.
func Parse(data []byte, f Format, name string) ([]Row, error) {
	switch f {
	case CSV:
		return parseCSV(data, name)
	case JSON:
		return parseJSON(data, name)
	case NPZ:
		return parseNPZ(data, name)
	}
	return nil, fmt.Errorf("%s: unknown format %q", name, f)
}

// Write writes rows atomically, choosing the format by extension.
func Write(path string, rows []Row) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	var data []byte
	switch f {
	case CSV:
		data, err = encodeCSV(rows)
	case JSON:
		data, err = encodeJSON(rows)
	case NPZ:
		data, err = encodeNPZ(rows)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, data)
}

// ByID indexes rows by id.
func ByID(rows []Row) map[int]int {
	m := make(map[int]int, len(rows))
	for i, r := range rows {
		m[r.ID] = i
	}
	return m
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// checkDuplicate records id and fails if it was seen before.
func checkDuplicate(seen map[int]int, id, row int, name, what string) error {
	if prev, dup := seen[id]; dup {
		return fmt.Errorf("%s: %s %d: duplicate id %d (first at %s %d)", name, what, row, id, what, prev)
	}
	seen[id] = row
	return nil
}

// validate refuses to write what the readers would reject.
func validate(rows []Row) error {
	seen := map[int]int{}
	for i, r := range rows {
		if err := checkDuplicate(seen, r.ID, i, "rows", "row"); err != nil {
			return err
		}
		for j, p := range r.Joints {
			for _, v := range p {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("row %d (id %d): %s is %v", i, r.ID, pose.JointNames[j], v)
				}
			}
		}
		if r.Joints2D != nil {
			for j, p := range r.Joints2D {
				for _, v := range p {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						return fmt.Errorf("row %d (id %d): 2D %s is %v", i, r.ID, pose.JointNames[j], v)
					}
				}
			}
		}
	}
	return nil
}
