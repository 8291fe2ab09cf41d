// Command poselab is a terminal workbench for training 3D human pose
// estimation models. See README.md.
package main

import (
	_ "go4.org/unsafe/assume-no-moving-gc" // gorgonia panics at start without it under Go 1.26

	"poselab/cli"
)

func main() { cli.Exit() }
