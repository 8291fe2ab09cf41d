package predfile

import (
	"os"
	"strings"
	"testing"
)

// The fuzz targets check that no input panics or hangs the readers and
// that whatever they accept writes back and re-reads to the same rows.

func fuzzFormat(f *testing.F, format Format, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := Parse(data, format, "fuzz."+string(format))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz."+string(format)) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var enc []byte
		switch format {
		case CSV:
			enc, err = encodeCSV(rows)
		case JSON:
			enc, err = encodeJSON(rows)
		case NPZ:
			enc, err = encodeNPZ(rows)
		}
		if err != nil {
			t.Fatalf("accepted rows do not encode: %v", err)
		}
		back, err := Parse(enc, format, "again")
		if err != nil || len(back) != len(rows) {
			t.Fatalf("re-read: %d rows, %v", len(back), err)
		}
	})
}

func FuzzCSV(f *testing.F) {
	good, _ := encodeCSV(sampleRows(3))
	fuzzFormat(f, CSV, good, good[:len(good)/2], []byte("Id\n"), []byte("\x00\xff,,\"\n"), []byte(strings.Join(CSVHeader(), ",")+"\n1,2\n"))
}

func FuzzJSON(f *testing.F) {
	good, _ := encodeJSON(sampleRows(3))
	fuzzFormat(f, JSON, good, good[:len(good)/3], []byte("{}"), []byte(`[{"id":1e99,"joints":[]}]`), []byte("[null]"))
}

func FuzzNPZ(f *testing.F) {
	good, _ := encodeNPZ(sampleRows(3))
	numpy, _ := os.ReadFile("testdata/numpy_pred.npz")
	fuzzFormat(f, NPZ, good, numpy, numpy[:len(numpy)-20], good[:40], []byte("PK\x05\x06"+strings.Repeat("\x00", 18)))
}
