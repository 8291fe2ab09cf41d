package datasets

import "testing"

func TestDigestChangesWithLabels(t *testing.T) {
	recs := []Record{{ID: 0, Subject: "S8", Action: "Walking"}, {ID: 1, Subject: "S8", Action: "Walking"}}
	recs[1].Joints2D[3] = [2]float64{400, 500}
	d := Digest(recs)
	if d != Digest(append([]Record(nil), recs...)) {
		t.Fatal("same labels, different digests")
	}
	changed := append([]Record(nil), recs...)
	changed[1].Joints2D[3][0] += 0.001
	if Digest(changed) == d {
		t.Fatal("a moved joint kept the digest")
	}
	if Digest(recs[:1]) == d {
		t.Fatal("a shorter split kept the digest")
	}
	renamed := append([]Record(nil), recs...)
	renamed[0].Action = "Walk"
	renamed[0].Subject = "S8ing"
	if Digest(renamed) == d {
		t.Fatal("renamed action kept the digest")
	}
}
