package predfile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math"

	"codeberg.org/sbinet/npyio/npz"

	"poselab/datasets/internal/pyload"
	"poselab/internal/npzfile"
	"poselab/pose"
)

func parseNPZ(data []byte, name string) ([]Row, error) {
	z, err := pyload.OpenNPZ(data, name)
	if err != nil {
		return nil, err
	}
	pa, err := z.Array("pred")
	if err != nil {
		return nil, err
	}
	pred, shape, err := pyload.Floats(pa)
	if err != nil {
		return nil, fmt.Errorf("%s: pred: %v", name, err)
	}
	if len(shape) != 3 || shape[1] != pose.NumJoints || shape[2] != 3 {
		return nil, fmt.Errorf("%s: pred has shape %v, want [N,17,3]", name, shape)
	}
	n := shape[0]
	ia, err := z.Array("ids")
	if err != nil {
		return nil, err
	}
	ids, ishape, err := pyload.Floats(ia)
	if err != nil {
		return nil, fmt.Errorf("%s: ids: %v", name, err)
	}
	if len(ishape) != 1 || ishape[0] != n {
		return nil, fmt.Errorf("%s: ids has shape %v, want [%d]", name, ishape, n)
	}
	rows := make([]Row, n)
	seen := map[int]int{}
	for i := range rows {
		id := int(ids[i])
		if float64(id) != ids[i] {
			return nil, fmt.Errorf("%s: row %d: id %v is not an integer", name, i, ids[i])
		}
		rows[i].ID = id
		for k := 0; k < 3*pose.NumJoints; k++ {
			v := pred[i*3*pose.NumJoints+k]
			if bad := pyload.Finite([]float64{v}); bad >= 0 {
				return nil, fmt.Errorf("%s: row %d (id %d): %s is %v", name, i, id, pose.JointNames[k/3], v)
			}
			rows[i].Joints[k/3][k%3] = v
		}
		if err := checkDuplicate(seen, id, i, name, "row"); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func encodeNPZ(rows []Row) ([]byte, error) {
	if err := validate(rows); err != nil {
		return nil, err
	}
	pred := make([][pose.NumJoints][3]float32, len(rows))
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = int64(r.ID)
		for j := range r.Joints {
			for k := 0; k < 3; k++ {
				v := float32(r.Joints[j][k])
				// Beyond float32's range the value would be stored as
				// Inf, which the reader refuses.
				if math.IsInf(float64(v), 0) {
					return nil, fmt.Errorf("row %d (id %d): %s is %v, beyond float32", i, r.ID, pose.JointNames[j], r.Joints[j][k])
				}
				pred[i][j][k] = v
			}
		}
	}
	var b bytes.Buffer
	w := npz.NewWriter(&b)
	if len(rows) == 0 {
		// npyio cannot infer the shape of an empty slice: write the two
		// empty arrays' headers by hand.
		zw := zip.NewWriter(&b)
		for name, h := range map[string][]byte{
			"pred.npy": npzfile.Header("<f4", []int{0, pose.NumJoints, 3}),
			"ids.npy":  npzfile.Header("<i8", []int{0}),
		} {
			f, err := zw.Create(name)
			if err != nil {
				return nil, err
			}
			f.Write(h)
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	if err := w.Write("pred.npy", pred); err != nil {
		return nil, err
	}
	if err := w.Write("ids.npy", ids); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
