package pyload

import (
	"strings"
	"testing"

	py "github.com/nlpodyssey/gopickle/types"
)

func TestCOrderTransposesFortranData(t *testing.T) {
	// A 2x3 array [[1,2,3],[4,5,6]] stored column-major is 1,4,2,5,3,6.
	got := cOrder([]float64{1, 4, 2, 5, 3, 6}, []int{2, 3})
	for i, w := range []float64{1, 2, 3, 4, 5, 6} {
		if got[i] != w {
			t.Fatalf("cOrder = %v", got)
		}
	}
}

func TestPickleScanRejectsImpossibleLengths(t *testing.T) {
	// Protocol 2 dict {"a": "b"} ...
	good := []byte("\x80\x02}q\x00X\x01\x00\x00\x00aq\x01X\x01\x00\x00\x00bq\x02s.")
	v, err := LoadsPickle(good)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := v.(*py.Dict); !ok || d.MustGet("a") != "b" {
		t.Fatalf("loaded %#v", v)
	}
	// ... and the same claiming a 1 GB string, a huge frame, or cut short.
	for _, bad := range []string{
		"\x80\x02}q\x00X\x00\x00\x00\x40aq\x01.",
		"\x80\x04\x95\xff\xff\xff\xff\xff\x00\x00\x00}.",
		string(good[:len(good)-4]),
		"\x80\x02\xff",
	} {
		if _, err := LoadsPickle([]byte(bad)); err == nil || !strings.Contains(err.Error(), "corrupt pickle") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestUnknownClassesAndCodecs(t *testing.T) {
	// GLOBAL lib.utils.cameras Camera, EMPTY_TUPLE, NEWOBJ, {"fx": 2.5}, BUILD
	p := "\x80\x02clib.utils.cameras\nCamera\nq\x00)\x81q\x01}q\x02X\x02\x00\x00\x00fxq\x03G@\x04\x00\x00\x00\x00\x00\x00sb."
	v, err := LoadsPickle([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.(*Object)
	if !ok || o.Name != "Camera" {
		t.Fatalf("got %#v", v)
	}
	fx, ok := Get(o, "fx")
	if !ok || fx != 2.5 {
		t.Fatalf("fx = %v", fx)
	}
	b, err := codecsEncode{}.Call("\u00ff\u0001a", "latin1")
	if err != nil || string(b.([]byte)) != "\xff\x01a" {
		t.Fatalf("_codecs.encode: %q %v", b, err)
	}
	if _, err := (codecsEncode{}).Call("\u0100", "latin1"); err == nil {
		t.Fatal("non-latin1 rune accepted")
	}
}

// A bad value is named by its numpy index, as the user would look it up.
func TestIndex(t *testing.T) {
	for _, c := range []struct {
		i     int
		shape []int
		want  string
	}{
		{16, []int{17, 3}, "[5][1]"},
		{1, []int{3}, "[1]"},
		{2*51 + 3*5 + 2, []int{4, 17, 3}, "[2][5][2]"},
		{7, nil, "[7]"},
	} {
		if got := Index(c.i, c.shape...); got != c.want {
			t.Errorf("Index(%d, %v) = %s, want %s", c.i, c.shape, got, c.want)
		}
	}
}
