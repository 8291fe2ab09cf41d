package engine

import (
	"errors"
	"strings"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

// When no chain of a pipeline is complete, the reason given is the newest
// chain's, the one the user has just run, not the oldest one's.
func TestPipelineChainExplainsTheNewestChain(t *testing.T) {
	fx := newResultsFixture(t)
	sb := func(i int, r datasets.Record) Prediction {
		return Prediction{Has3D: true, Pose3D: pose.RootRelative(r.Joints3D)}
	}
	// Both chains lost their SH stage (deleted: never stored here).
	fx.addRun("sb-old", "sb", "E:sb", Finished, "sh-old", sb)
	fx.addRun("sb-new", "sb", "E:sb", Finished, "sh-new", sb)
	e := fx.open()
	_, err := e.PipelineChain("E")
	if err == nil || !strings.Contains(err.Error(), "sh-new") {
		t.Fatalf("error %v, want it to be about the newest chain (sh-new)", err)
	}
}

// A pipeline whose last stage has not finished names that run (to resume).
func TestPipelineChainNamesTheUnfinishedLastStage(t *testing.T) {
	fx := newResultsFixture(t)
	sh := func(i int, r datasets.Record) Prediction { return Prediction{Has2D: true, Pose2D: r.Joints2D} }
	fx.addRun("sh-1", "sh", "D:sh", Finished, "", sh)
	fx.addRun("sb-1", "sb", "D:sb", Stopped, "sh-1", sh)
	e := fx.open()
	if _, err := e.PipelineChain("D"); err == nil || !strings.Contains(err.Error(), "sb-1") || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("error %v, want it to name the stopped run sb-1", err)
	}
}

// A pipeline none of whose runs has finished, but which has one (a C run
// extended, then stopped), names it rather than saying "no finished runs
// (poselab pipeline run C)", which would train another from scratch.
func TestPipelineChainNamesAnUnfinishedOnlyRun(t *testing.T) {
	fx := newResultsFixture(t)
	sb := func(i int, r datasets.Record) Prediction {
		return Prediction{Has3D: true, Pose3D: pose.RootRelative(r.Joints3D)}
	}
	fx.addRun("sb-1", "sb", "C:sb", Stopped, "", sb)
	e := fx.open()
	_, err := e.PipelineChain("C")
	if err == nil || !strings.Contains(err.Error(), "sb-1 (C:sb), is stopped") || strings.Contains(err.Error(), "pipeline run C") {
		t.Fatalf("error %v, want it to name the stopped run sb-1", err)
	}
	if _, err := e.PipelineChain("A"); err == nil || !strings.Contains(err.Error(), "no finished runs (poselab pipeline run A)") {
		t.Fatalf("a pipeline never run: %v", err)
	}
	// Callers (the CLI's report) tell the two apart by the error, not by
	// its words.
	if _, err := e.PipelineResult("A", datasets.Val); !errors.Is(err, ErrNoFinishedRuns) {
		t.Fatalf("a pipeline never run: %v, want ErrNoFinishedRuns", err)
	}
	if _, err := e.PipelineResult("C", datasets.Val); errors.Is(err, ErrNoFinishedRuns) {
		t.Fatalf("a pipeline with a stopped run: %v, want other than ErrNoFinishedRuns", err)
	}
}
