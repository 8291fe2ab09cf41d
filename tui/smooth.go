package tui

import (
	"math"
	"sort"
)

// smoothEMA returns the TensorBoard-style debiased exponential moving
// average of ys with weight w in [0, 1): the running average starts at zero
// and is divided by (1 - w^n), so the first points are not dragged towards
// zero and the last smoothed point sits on the newest data. Non-finite
// values are skipped (they keep the previous smoothed value). The result is
// a new slice: display smoothing never touches the data.
func smoothEMA(ys []float64, w float64) []float64 {
	out := make([]float64, len(ys))
	if w <= 0 {
		copy(out, ys)
		return out
	}
	var e emaState
	e.extend(out, ys, math.Min(w, 0.999))
	return out
}

// emaState is a debiased EMA part-way through a series, so that a growing
// series is smoothed in O(new points) per frame.
type emaState struct {
	last, wn float64 // running average, w^n
	prev     float64 // last smoothed value
	started  bool
}

func (e *emaState) extend(out, ys []float64, w float64) {
	if !e.started {
		e.wn, e.prev, e.started = 1, math.NaN(), true
	}
	for i, y := range ys {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			out[i] = e.prev
			continue
		}
		e.last = e.last*w + (1-w)*y
		e.wn *= w
		e.prev = e.last / (1 - e.wn)
		out[i] = e.prev
	}
}

// emaCache keeps a run's smoothed loss between frames. Data only grows, so
// a longer series extends the cache and a shorter one (a frozen view) is a
// prefix of it.
type emaCache struct {
	w  float64
	ys []float64
	st emaState
}

func (c *emaCache) smoothed(ys []float64, w float64) []float64 {
	if w <= 0 {
		return ys
	}
	w = math.Min(w, 0.999)
	if c.w != w {
		*c = emaCache{w: w}
	}
	if n := len(c.ys); n < len(ys) {
		c.ys = append(c.ys, make([]float64, len(ys)-n)...)
		c.st.extend(c.ys[n:], ys[n:], w)
	}
	return c.ys[:len(ys)]
}

// bucket is what one pixel column shows of the points that fall into it.
type bucket struct {
	ok                    bool
	min, max, first, last float64
	firstIndex, lastIndex int
}

// bucketize drops the points with x in [x0, x1] into n columns and keeps,
// per column, the min, max, first and last y: drawing a vertical stroke
// from min to max plus the joins between columns reproduces the envelope of
// any number of points in O(points) without losing spikes. xs must be
// ascending (steps and times are). Non-finite ys are skipped.
func bucketize(xs, ys []float64, x0, x1 float64, n int) []bucket {
	bs := make([]bucket, n)
	if n <= 0 || len(xs) == 0 || !(x1 > x0) {
		return bs
	}
	start := sort.SearchFloat64s(xs, x0)
	scale := float64(n-1) / (x1 - x0)
	for i := start; i < len(xs) && i < len(ys); i++ {
		x := xs[i]
		if x > x1 {
			break
		}
		y := ys[i]
		if math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		c := int(math.Round((x - x0) * scale))
		c = min(max(c, 0), n-1)
		b := &bs[c]
		if !b.ok {
			*b = bucket{ok: true, min: y, max: y, first: y, last: y, firstIndex: i, lastIndex: i}
			continue
		}
		b.min = math.Min(b.min, y)
		b.max = math.Max(b.max, y)
		b.last = y
		b.lastIndex = i
	}
	return bs
}
