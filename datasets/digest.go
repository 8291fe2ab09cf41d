package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// Digest fingerprints a split's labels (ids, subjects, actions, cameras,
// 2D joints and root positions). Run outputs carry it so that a later run
// or report never silently pairs predictions with different data (the
// synthetic set changed, another --data folder, another size or seed).
func Digest(recs []Record) string {
	h := sha256.New()
	var buf [8]byte
	f := func(x float64) {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x))
		h.Write(buf[:])
	}
	for _, r := range recs {
		f(float64(r.ID))
		f(float64(r.CamIndex))
		f(float64(r.Frame))
		h.Write([]byte(r.Subject))
		h.Write([]byte{0})
		h.Write([]byte(r.Action))
		h.Write([]byte{0})
		for _, p := range r.Joints2D {
			f(p[0])
			f(p[1])
		}
		for _, v := range r.Joints3D[0] {
			f(v)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
