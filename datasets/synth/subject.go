package synth

import (
	"math/rand/v2"

	"poselab/pose"
)

// Subjects of the seed's split by subject.
var (
	trainSubjects = []string{"S1", "S5", "S6", "S7"}
	valSubjects   = []string{"S8"}
	testSubjects  = []string{"S9", "S11"}
)

// rgb is a linear colour, components in 0..1.
type rgb [3]float32

// appearance is what a person wears and looks like.
type appearance struct {
	skin, hair, shirt, shirt2, trousers, shoes rgb
	shortSleeves                               bool    // forearms show skin
	shorts                                     bool    // shins show skin
	pattern                                    int     // 0 plain, 1 stripes, 2 checks (shirt)
	stripeMM                                   float32 // stripe width along the body axis, mm
	girth                                      float64 // limb thickness factor
	seat                                       rgb     // the stool this person sits on, if seated
}

// body is one person: bone lengths (constant over all their frames) and looks.
type body struct {
	bones [pose.NumJoints]float64 // mm, bone ending at joint j; [0] = 0
	look  appearance
}

// newBody draws a person around the measured Human3.6M means: an overall
// size factor (sd 4%) times a per-bone factor (sd 3%), left and right equal.
func newBody(r *rand.Rand) body {
	var b body
	size := clamp(1+0.04*normal(r), 0.9, 1.1)
	for j := 1; j < pose.NumJoints; j++ {
		if p := pose.FlipPartner[j]; p < j {
			b.bones[j] = b.bones[p]
			continue
		}
		b.bones[j] = pose.MeanBoneLengthMM[j] * size * clamp(1+0.03*normal(r), 0.92, 1.08)
	}
	b.look = newAppearance(r)
	return b
}

var (
	skinTones = []rgb{{0.93, 0.76, 0.64}, {0.85, 0.64, 0.5}, {0.72, 0.52, 0.38}, {0.55, 0.37, 0.25}, {0.38, 0.25, 0.17}, {0.96, 0.82, 0.72}}
	hairTones = []rgb{{0.08, 0.06, 0.05}, {0.25, 0.16, 0.09}, {0.45, 0.3, 0.15}, {0.7, 0.55, 0.3}, {0.5, 0.5, 0.5}, {0.15, 0.1, 0.08}}
	clothes   = []rgb{
		{0.75, 0.1, 0.1}, {0.1, 0.2, 0.6}, {0.1, 0.45, 0.2}, {0.9, 0.75, 0.2}, {0.85, 0.85, 0.85},
		{0.15, 0.15, 0.17}, {0.5, 0.2, 0.55}, {0.95, 0.5, 0.15}, {0.3, 0.55, 0.75}, {0.55, 0.35, 0.2},
		{0.2, 0.6, 0.6}, {0.8, 0.4, 0.5}, {0.35, 0.35, 0.4}, {0.6, 0.65, 0.3},
	}
	trouserTones = []rgb{{0.12, 0.14, 0.25}, {0.2, 0.2, 0.22}, {0.45, 0.38, 0.28}, {0.3, 0.35, 0.5}, {0.08, 0.08, 0.08}, {0.5, 0.5, 0.52}, {0.35, 0.25, 0.18}}
)

func pick(r *rand.Rand, cs []rgb) rgb { return cs[r.IntN(len(cs))] }

func newAppearance(r *rand.Rand) appearance {
	a := appearance{
		skin:     pick(r, skinTones),
		hair:     pick(r, hairTones),
		shirt:    pick(r, clothes),
		shirt2:   pick(r, clothes),
		trousers: pick(r, trouserTones),
		shoes:    pick(r, []rgb{{0.05, 0.05, 0.05}, {0.9, 0.9, 0.9}, {0.35, 0.2, 0.1}, {0.2, 0.2, 0.3}}),
	}
	// Clothes must stand out from the skin and from each other, or the
	// body reads as one blob.
	for tries := 0; tries < 20 && (colourDist(a.shirt, a.skin) < 0.35 || colourDist(a.shirt, a.trousers) < 0.3); tries++ {
		a.shirt = pick(r, clothes)
	}
	for tries := 0; tries < 20 && colourDist(a.hair, a.skin) < 0.3; tries++ {
		a.hair = pick(r, hairTones)
	}
	a.seat = pick(r, []rgb{{0.45, 0.3, 0.18}, {0.6, 0.6, 0.62}, {0.2, 0.2, 0.22}, {0.7, 0.55, 0.35}})
	a.shortSleeves = r.IntN(3) == 0
	a.shorts = r.IntN(6) == 0
	a.pattern = r.IntN(3)
	a.stripeMM = float32(25 + r.IntN(50))
	a.girth = clamp(1.1+0.08*normal(r), 0.95, 1.3)
	return a
}

// colourDist is the largest per-channel difference of two colours.
func colourDist(a, b rgb) float32 {
	d := float32(0)
	for i := range a {
		d = max(d, a[i]-b[i], b[i]-a[i])
	}
	return d
}
