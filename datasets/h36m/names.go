package h36m

import (
	"path"
	"strconv"
	"strings"
)

// ImageInfo is what a Human3.6M frame's image path says about it.
type ImageInfo struct {
	Subject  string // "S1"
	Sequence string // "Directions_1" (as in the folder name)
	Action   string // "Directions": the sequence without its take number
	CameraID string // "54138969"
	Frame    int    // frame number from the file name (-1 if none)
}

// ParseImageName reads paths like
// S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg
// (ETH and mmpose layout). Parts it cannot find are left empty.
func ParseImageName(p string) ImageInfo {
	info := ImageInfo{Frame: -1}
	p = strings.ReplaceAll(p, "\\", "/")
	base := strings.TrimSuffix(path.Base(p), path.Ext(p))
	dir := path.Base(path.Dir(p))
	if dir == "." || dir == "/" || !strings.Contains(dir, ".") {
		// No sequence folder: the file name carries it, minus the frame.
		if i := strings.LastIndexByte(base, '_'); i > 0 {
			dir = base[:i]
		}
	}
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		if n, err := strconv.Atoi(base[i+1:]); err == nil {
			info.Frame = n
		}
	}
	seq := dir
	if i := strings.LastIndexByte(dir, '.'); i >= 0 {
		seq, info.CameraID = dir[:i], dir[i+1:]
	}
	if i := strings.IndexByte(seq, '_'); i > 0 && strings.HasPrefix(seq, "S") {
		info.Subject, seq = seq[:i], seq[i+1:]
	}
	info.Sequence = seq
	info.Action = ActionName(seq)
	return info
}

// ActionName strips a take number ("Directions_1", "Directions 1") from a
// sequence name, giving the action label used in per-action tables.
func ActionName(seq string) string {
	s := strings.TrimSpace(seq)
	if i := strings.LastIndexAny(s, "_ "); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			s = s[:i]
		}
	}
	return s
}
