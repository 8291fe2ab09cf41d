package engine

import "sort"

// SortBestFirst orders runs best validation first, as the workbench's
// runs list (b), `runs ls --sort best` and a grid's table show them: 3D
// runs by their error in mm, then 2D runs by theirs in px (the two do not
// compare), then runs without a validation yet (0 or NaN), each group in
// the order given. best says an item's best validation error and whether
// it is in pixels; it is called once per item (the CLI reads a run's
// epochs to know).
func SortBestFirst[T any](items []T, best func(T) (v float64, px bool)) {
	type key struct {
		group int
		v     float64
	}
	keys := make([]key, len(items))
	for i, it := range items {
		v, px := best(it)
		switch {
		case !(v > 0): // none yet (NaN, 0)
			keys[i] = key{2, 0}
		case px:
			keys[i] = key{1, v}
		default:
			keys[i] = key{0, v}
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		if ka.group != kb.group {
			return ka.group < kb.group
		}
		return ka.v < kb.v
	})
	sorted := make([]T, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
}
