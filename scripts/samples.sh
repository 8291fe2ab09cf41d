#!/usr/bin/env bash
# Renders docs/samples/synth-*.png with `poselab data show` from the current
# synthetic data set (tiny, seed 1): run it after changing the renderer or
# the synthetic skeleton, and look at the pictures before committing them.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/poselab .
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
show() { bin/poselab data show --cols 20 "$@" >/dev/null; }
# first validation sample of an action (the title line names it)
first() {
	for i in $(seq 0 999); do
		# Read from a file, not `data show | head -1 | grep`: head exits after
		# the title, data show dies of SIGPIPE writing the rest, and pipefail
		# failed the match about one time in four.
		bin/poselab data show --split val --index "$i" --cols 8 --out "$tmp/x.png" >"$tmp/show.txt"
		read -r title <"$tmp/show.txt"
		if [[ " $title " == *" $1 "* ]]; then
			echo "$i"
			return
		fi
	done
	echo "no validation sample of $1" >&2
	exit 1
}
show --split val --index 3 --out docs/samples/synth-val.png
show --split val --index "$(first Directions)" --out docs/samples/synth-directions.png
show --split val --index "$(first Sitting)" --out docs/samples/synth-sitting.png
show --split train --index 11 --flip --rot 25 --out docs/samples/synth-flip-rot.png
show --mpii --split train --index 5 --out docs/samples/synth-mpii.png
ls -l docs/samples/synth-*.png
