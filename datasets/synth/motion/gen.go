//go:build ignore

// gen converts the CMU clips (H36M 17 joints, mm, 50 fps JSON) into the
// compact binary files embedded in package synth: every second frame
// (25 fps), root-centred, int16 millimetres.
//
//	go run gen.go /path/to/fixtures/motion
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

type clip struct {
	Clip   string           `json:"clip"`
	Fps    float64          `json:"fps"`
	Frames [][17][3]float64 `json:"frames"`
}

func main() {
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*.json"))
	if err != nil || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "no clips found")
		os.Exit(1)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		var c clip
		if err := json.Unmarshal(raw, &c); err != nil || c.Clip == "" {
			continue // summary.json
		}
		n := (len(c.Frames) + 1) / 2
		buf := []byte("PLM1")
		buf = binary.LittleEndian.AppendUint16(buf, uint16(n))
		for i := 0; i < len(c.Frames); i += 2 {
			fr := c.Frames[i]
			for j := 0; j < 17; j++ {
				for k := 0; k < 3; k++ {
					v := math.Round(fr[j][k] - fr[0][k])
					buf = binary.LittleEndian.AppendUint16(buf, uint16(int16(v)))
				}
			}
		}
		if err := os.WriteFile(c.Clip+".bin", buf, 0o644); err != nil {
			panic(err)
		}
		fmt.Printf("%s: %d frames, %d bytes\n", c.Clip, n, len(buf))
	}
}
