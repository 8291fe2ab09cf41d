package engine

import (
	"strings"
	"testing"

	"poselab/datasets"
)

func TestOutputsRefuseOtherData(t *testing.T) {
	dir := t.TempDir()
	recs := []datasets.Record{{ID: 0, Subject: "S8"}, {ID: 1, Subject: "S8"}}
	recs[1].Joints2D[0] = [2]float64{10, 20}
	o := &Outputs{Run: "sh-1", Model: "sh", Split: datasets.Val, Data: datasets.Digest(recs),
		Preds: []Prediction{{ID: 0, Has2D: true}, {ID: 1, Has2D: true}}}
	if err := WriteOutputs(dir, o); err != nil {
		t.Fatal(err)
	}
	back, err := ReadOutputs(dir, datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.CheckData(recs); err != nil {
		t.Fatalf("same data refused: %v", err)
	}
	other := append([]datasets.Record(nil), recs...)
	other[1].Joints2D[0][1] = 21
	err = back.CheckData(other)
	if err == nil || !strings.Contains(err.Error(), "different data") || !strings.Contains(err.Error(), "sh-1") {
		t.Fatalf("other data: err = %v, want a 'different data' error naming the run", err)
	}
}
