package synth

import (
	"fmt"
	"math/rand/v2"
)

// Actions are the 15 Human3.6M action labels, in a fixed order.
var Actions = []string{
	"Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
	"Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
}

// armStyle is a procedural arm posture laid over a clip frame for actions
// the clips do not show (phoning, taking a photo, ...); armKeep keeps the
// recorded arms.
type armStyle int

const (
	armKeep armStyle = iota
	armPhone
	armMouth
	armBothMouth
	armPhoto
	armPoint
	armWave
	armLeash
	armLap
	armClasp
	armHips
	armCrossed
)

// frame filters for a part of an action.
const (
	anyFrame = iota
	standFrames
	sitFrames
	moveFrames // neither a quiet stance nor seated
)

// part is one way an action is made: frames of some clips, optionally
// with a procedural arm posture.
type part struct {
	clips  []string // nil: every clip
	filter int
	arms   []armStyle
	weight int
}

var actionParts = map[string][]part{
	"Directions":   {{filter: standFrames, arms: []armStyle{armPoint, armPoint, armKeep}, weight: 1}},
	"Discussion":   {{clips: []string{"05_02"}, arms: []armStyle{armKeep}, weight: 1}, {filter: standFrames, arms: []armStyle{armCrossed, armClasp, armPoint}, weight: 1}},
	"Eating":       {{filter: standFrames, arms: []armStyle{armMouth, armBothMouth}, weight: 1}, {clips: []string{"01_08"}, filter: sitFrames, arms: []armStyle{armMouth, armBothMouth}, weight: 1}},
	"Greeting":     {{clips: []string{"131_03"}, arms: []armStyle{armKeep}, weight: 1}, {filter: standFrames, arms: []armStyle{armWave}, weight: 1}},
	"Phoning":      {{filter: standFrames, arms: []armStyle{armPhone}, weight: 2}, {clips: []string{"01_08"}, filter: sitFrames, arms: []armStyle{armPhone}, weight: 1}},
	"Photo":        {{filter: standFrames, arms: []armStyle{armPhoto}, weight: 1}},
	"Posing":       {{clips: []string{"01_01", "02_04"}, arms: []armStyle{armKeep}, weight: 2}, {filter: standFrames, arms: []armStyle{armHips, armWave}, weight: 1}},
	"Purchases":    {{clips: []string{"02_06"}, arms: []armStyle{armKeep}, weight: 1}},
	"Sitting":      {{clips: []string{"01_08"}, filter: sitFrames, arms: []armStyle{armKeep, armLap, armLap}, weight: 1}},
	"SittingDown":  {{clips: []string{"01_08"}, filter: moveFrames, arms: []armStyle{armKeep}, weight: 1}},
	"Smoking":      {{filter: standFrames, arms: []armStyle{armMouth, armMouth, armCrossed}, weight: 2}, {clips: []string{"01_08"}, filter: sitFrames, arms: []armStyle{armMouth}, weight: 1}},
	"Waiting":      {{filter: standFrames, arms: []armStyle{armKeep, armClasp, armHips, armCrossed}, weight: 1}},
	"WalkDog":      {{clips: []string{"02_03"}, arms: []armStyle{armKeep}, weight: 1}, {clips: []string{"02_01", "131_01"}, filter: moveFrames, arms: []armStyle{armLeash}, weight: 1}},
	"Walking":      {{clips: []string{"02_01", "131_01"}, arms: []armStyle{armKeep}, weight: 1}},
	"WalkTogether": {{clips: []string{"02_01", "131_01"}, filter: moveFrames, arms: []armStyle{armKeep, armKeep, armClasp}, weight: 1}},
}

// framePool is a resolved part: the clip frames it may use.
type framePool struct {
	frames [][2]int // (clip index, frame index)
	arms   []armStyle
	weight int
}

// buildPools resolves every action's parts against the loaded clips.
func buildPools(clips []*clip) ([][]framePool, error) {
	pools := make([][]framePool, len(Actions))
	for a, name := range Actions {
		for _, p := range actionParts[name] {
			fp := framePool{arms: p.arms, weight: p.weight}
			for ci, c := range clips {
				if p.clips != nil && !contains(p.clips, c.name) {
					continue
				}
				for f := range c.dirs {
					ok := true
					switch p.filter {
					case standFrames:
						ok = c.stand[f]
					case sitFrames:
						ok = c.sit[f]
					case moveFrames:
						ok = !c.stand[f] && !c.sit[f]
					}
					if ok {
						fp.frames = append(fp.frames, [2]int{ci, f})
					}
				}
			}
			if len(fp.frames) == 0 {
				return nil, fmt.Errorf("synth: action %s has an empty frame pool", name)
			}
			pools[a] = append(pools[a], fp)
		}
	}
	return pools, nil
}

// choose picks a part by weight, then a frame and an arm style.
func choose(r *rand.Rand, parts []framePool) (clipIdx, frame int, arms armStyle) {
	total := 0
	for _, p := range parts {
		total += p.weight
	}
	k := r.IntN(total)
	for _, p := range parts {
		if k < p.weight {
			fr := p.frames[r.IntN(len(p.frames))]
			return fr[0], fr[1], p.arms[r.IntN(len(p.arms))]
		}
		k -= p.weight
	}
	panic("unreachable")
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
