package engine

import (
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestStepScheduleDecaysAtMilestones(t *testing.T) {
	s := Schedule{Kind: "step", BaseLR: 5e-4, StepsPerEpoch: 100, Milestones: []int{20, 30}, Gamma: 0.1}
	for _, c := range []struct {
		step int
		lr   float64
	}{{0, 5e-4}, {1999, 5e-4}, {2000, 5e-5}, {2999, 5e-5}, {3000, 5e-6}, {100000, 5e-6}} {
		if got := s.LR(c.step); !near(got, c.lr) {
			t.Errorf("step %d: lr %g, want %g", c.step, got, c.lr)
		}
	}
}

func TestExpScheduleEvery31200Steps(t *testing.T) {
	s := Schedule{Kind: "exp", BaseLR: 1e-3, Gamma: 0.96, DecaySteps: 31200, Staircase: true}
	for _, c := range []struct {
		step int
		lr   float64
	}{{0, 1e-3}, {31199, 1e-3}, {31200, 0.96e-3}, {62400, 0.96 * 0.96e-3}} {
		if got := s.LR(c.step); !near(got, c.lr) {
			t.Errorf("staircase step %d: lr %g, want %g", c.step, got, c.lr)
		}
	}
	s.Staircase = false
	if got, want := s.LR(15600), 1e-3*math.Sqrt(0.96); !near(got, want) {
		t.Errorf("continuous half-way: %g, want %g", got, want)
	}
}

func TestCosineWithWarmup(t *testing.T) {
	s := Schedule{Kind: "cosine", BaseLR: 1e-3, WarmupSteps: 10, TotalSteps: 110, MinLR: 1e-5}
	if got := s.LR(0); !near(got, 1e-4) {
		t.Errorf("first warm-up step %g", got)
	}
	if got := s.LR(9); !near(got, 1e-3) {
		t.Errorf("end of warm-up %g", got)
	}
	if got := s.LR(10); !near(got, 1e-3) {
		t.Errorf("cosine start %g", got)
	}
	if got, want := s.LR(60), 1e-5+(1e-3-1e-5)*0.5; !near(got, want) {
		t.Errorf("cosine middle %g, want %g", got, want)
	}
	if got := s.LR(110); !near(got, 1e-5) {
		t.Errorf("cosine end %g", got)
	}
	for i := 11; i < 120; i++ {
		if s.LR(i) > s.LR(i-1) {
			t.Fatalf("cosine rises at step %d", i)
		}
	}
}

func TestConstantAndValidate(t *testing.T) {
	s := Schedule{Kind: "constant", BaseLR: 3e-4}
	if s.LR(0) != 3e-4 || s.LR(1e9) != 3e-4 {
		t.Error("constant schedule changes")
	}
	for _, bad := range []Schedule{
		{Kind: "constant", BaseLR: 0},
		{Kind: "step", BaseLR: 1, Gamma: 0.1},
		{Kind: "exp", BaseLR: 1, Gamma: 0.9},
		{Kind: "cosine", BaseLR: 1, WarmupSteps: 5, TotalSteps: 5},
		{Kind: "linear", BaseLR: 1},
		// a negative floor turns the end of the run into gradient ascent
		{Kind: "cosine", BaseLR: 1e-3, TotalSteps: 100, MinLR: -1e-3},
		{Kind: "cosine", BaseLR: 1e-3, TotalSteps: 100, MinLR: math.NaN()},
		{Kind: "cosine", BaseLR: 1e-3, TotalSteps: 100, WarmupSteps: -10},
		{Kind: "step", BaseLR: 1, StepsPerEpoch: 10, Milestones: []int{1}, Gamma: math.NaN()},
		{Kind: "exp", BaseLR: 1, DecaySteps: 10, Gamma: math.NaN()},
		{Kind: "exp", BaseLR: 1, DecaySteps: 10, Gamma: math.Inf(1)},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// A cosine schedule without total_steps decays over the whole run: the
// engine fills in the run's step count when it starts (it depends on the
// data), so submitting one must not be refused.
func TestCosineWithoutTotalStepsSpansTheRun(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Schedule: Schedule{Kind: "cosine", BaseLR: 1e-3, WarmupSteps: 4}})
	if err != nil {
		t.Fatalf("cosine schedule without total_steps refused: %v", err)
	}
	info := waitRun(t, e, id, time.Minute)
	if info.State != Finished {
		t.Fatalf("%s %s", info.State, info.Reason)
	}
	if got := info.Spec.Schedule.TotalSteps; got != info.TotalSteps {
		t.Fatalf("cosine total_steps %d, the run's %d", got, info.TotalSteps)
	}
	if _, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Schedule: Schedule{Kind: "cosine", BaseLR: 1e-3, WarmupSteps: 5, TotalSteps: 5}}); err == nil {
		t.Fatal("cosine total_steps not above warmup_steps accepted")
	}
	e.Close()
	// A later process shows the schedule the run trained with.
	e2 := openTestEngine(t, dir)
	defer e2.Close()
	if s, _ := e2.Schedule(id); s.TotalSteps != info.TotalSteps || s.LR(info.TotalSteps-1) >= s.LR(4) {
		t.Fatalf("after restart the schedule is %+v (run of %d steps)", s, info.TotalSteps)
	}
}

// A schedule given without its base rate (a configuration file's
// [schedule] table with a kind and no base_lr) trains at the preset's
// rate, as what a file leaves out comes from the preset; it trained at 0.
func TestScheduleWithoutBaseLRTakesThePresets(t *testing.T) {
	p, err := Prepare(Spec{Model: "sb", Preset: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Prepare(Spec{Model: "sb", Preset: "test", Schedule: Schedule{Kind: "cosine", WarmupSteps: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Schedule.BaseLR != p.Schedule.BaseLR || s.Schedule.Kind != "cosine" || s.Schedule.WarmupSteps != 3 {
		t.Fatalf("schedule %+v, want cosine with the preset's base rate %g", s.Schedule, p.Schedule.BaseLR)
	}
}
