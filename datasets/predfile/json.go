package predfile

import (
	"bytes"
	"encoding/json"
	"fmt"

	"poselab/pose"
)

// jsonRow is one JSON entry; pointers tell a missing field from zero.
type jsonRow struct {
	ID       *int        `json:"id"`
	Joints   [][]float64 `json:"joints"`
	Joints2D [][]float64 `json:"joints_2d,omitempty"`
}

func parseJSON(data []byte, name string) ([]Row, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON list of predictions: %v", name, err)
	}
	rows := make([]Row, 0, len(raw))
	seen := map[int]int{}
	for i, m := range raw {
		var jr jsonIn
		d := json.NewDecoder(bytes.NewReader(m))
		if err := d.Decode(&jr); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %v", name, i, err)
		}
		if jr.ID == nil {
			return nil, fmt.Errorf("%s: entry %d: no \"id\"", name, i)
		}
		row := Row{ID: *jr.ID}
		if err := fill(row.Joints[:], jr.Joints, 3); err != nil {
			return nil, fmt.Errorf("%s: entry %d (id %d): joints: %v", name, i, row.ID, err)
		}
		if jr.Joints2D != nil {
			var p2 pose.Pose2D
			if err := fill2(p2[:], jr.Joints2D); err != nil {
				return nil, fmt.Errorf("%s: entry %d (id %d): joints_2d: %v", name, i, row.ID, err)
			}
			row.Joints2D = &p2
		}
		if err := checkDuplicate(seen, row.ID, i, name, "entry"); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// jsonIn is what the reader decodes: coordinates are pointers because a
// JSON null (how pandas and others write NaN) would decode as 0 into a
// float64, a made-up position instead of an error.
type jsonIn struct {
	ID       *int         `json:"id"`
	Joints   [][]*float64 `json:"joints"`
	Joints2D [][]*float64 `json:"joints_2d"`
}

func fill(dst []pose.Vec3, src [][]*float64, dim int) error {
	if len(src) != len(dst) {
		return fmt.Errorf("%d joints, want %d", len(src), len(dst))
	}
	for j, p := range src {
		if err := coords(dst[j][:], p, j, dim); err != nil {
			return err
		}
	}
	return nil
}

func fill2(dst []pose.Vec2, src [][]*float64) error {
	if len(src) != len(dst) {
		return fmt.Errorf("%d joints, want %d", len(src), len(dst))
	}
	for j, p := range src {
		if err := coords(dst[j][:], p, j, 2); err != nil {
			return err
		}
	}
	return nil
}

// coords copies joint j's dim coordinates, refusing a wrong count or null.
func coords(dst []float64, p []*float64, j, dim int) error {
	if len(p) != dim {
		return fmt.Errorf("joint %d has %d coordinates, want %d", j, len(p), dim)
	}
	for k, v := range p {
		if v == nil {
			return fmt.Errorf("joint %d coordinate %d is null", j, k)
		}
		dst[k] = *v
	}
	return nil
}

func encodeJSON(rows []Row) ([]byte, error) {
	if err := validate(rows); err != nil {
		return nil, err
	}
	out := make([]jsonRow, len(rows))
	for i, r := range rows {
		id := r.ID
		out[i].ID = &id
		out[i].Joints = make([][]float64, pose.NumJoints)
		for j := range r.Joints {
			out[i].Joints[j] = r.Joints[j][:]
		}
		if r.Joints2D != nil {
			out[i].Joints2D = make([][]float64, pose.NumJoints)
			for j := range r.Joints2D {
				out[i].Joints2D[j] = r.Joints2D[j][:]
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
