package tui

import (
	"charm.land/bubbles/v2/key"
)

// Every key the workbench understands is declared here, once, as data: the
// help overlay and the hint line are generated from these tables, so they
// cannot drift from what the keys do.

// action names what a key does; Update routes on it.
type action int

const (
	actNone action = iota
	actHelp
	actQuit
	actNextTab
	actPrevTab
	actTabCurves
	actTabJoints
	actTabSkeleton
	actTabLog
	actUp
	actDown
	actMark
	actMarkAll
	actSortRuns
	actNew
	actChain
	actPause
	actResume
	actStop
	actExport
	actDelete
	actZoomIn
	actZoomOut
	actPanLeft
	actPanRight
	actZoomReset
	actLogScale
	actXAxis
	actSmoothLess
	actSmoothMore
	actFreeze
	actValMetric
	actSortJoints
	actPrevSample
	actNextSample
	actRotLeft
	actRotRight
	actSkelLayers
	actLogOlder
	actLogNewer
	actLogEnd
)

type binding struct {
	act   action
	key   key.Binding
	short string // a word for the hint line
	// mutates marks a key that changes runs or writes files: a read-only
	// session refuses it, and its help and hint line leave it out.
	mutates bool
	// viewerHelp replaces the help text in a read-only session where the
	// key does something else there ("" keeps it).
	viewerHelp string
}

// mutating marks a binding as one a read-only session refuses.
func (b binding) mutating() binding {
	b.mutates = true
	return b
}

// inViewer sets the help text a read-only session shows for the key.
func (b binding) inViewer(help string) binding {
	b.viewerHelp = help
	return b
}

// helpText is the binding's description in a session of that kind.
func (b binding) helpText(readOnly bool) string {
	if readOnly && b.viewerHelp != "" {
		return b.viewerHelp
	}
	return b.key.Help().Desc
}

type bindingGroup struct {
	name     string
	bindings []binding
}

func bind(a action, help string, keys ...string) binding {
	return hint(a, "", help, keys...)
}

// hint is bind with the word the hint line shows for the key.
func hint(a action, short, help string, keys ...string) binding {
	label := keys[0]
	if len(keys) > 1 {
		label = keys[0] + "/" + keys[1]
	}
	return binding{act: a, short: short, key: key.NewBinding(key.WithKeys(keys...), key.WithHelp(label, help))}
}

// keyMap is the whole key table, in the order the help overlay shows it.
var keyMap = []bindingGroup{
	{"General", []binding{
		hint(actHelp, "help", "show or hide this help", "?"),
		hint(actQuit, "quit", "quit (asks about active runs)", "q", "ctrl+c").inViewer("quit (runs keep training)"),
		bind(actNextTab, "next view", "tab"),
		bind(actPrevTab, "previous view", "shift+tab"),
		bind(actTabCurves, "curves: loss, validation, learning rate", "1"),
		bind(actTabJoints, "per-joint and per-action error", "2"),
		bind(actTabSkeleton, "skeletons: ground truth and prediction", "3"),
		bind(actTabLog, "log: the run's states, validations, messages", "4"),
	}},
	{"Runs", []binding{
		bind(actUp, "select previous run", "up", "k"),
		bind(actDown, "select next run", "down", "j"),
		hint(actMark, "overlay", "overlay the selected run on the charts", "space"),
		bind(actMarkAll, "overlay all runs / none", "a"),
		bind(actSortRuns, "list runs best validation first / oldest first", "b"),
		hint(actNew, "new", "new run (form)", "n").mutating(),
		hint(actChain, "chain", "chain: new run after the selected one, from its outputs", "c").mutating(),
		hint(actPause, "pause", "pause the selected run", "p").mutating(),
		hint(actResume, "resume", "resume or start the selected run (finished: train on)", "r").mutating(),
		hint(actStop, "stop", "stop the selected run (checkpointed)", "s").mutating(),
		hint(actExport, "export", "export predictions (csv, json, npz) or weights (PyTorch)", "e").mutating(),
		hint(actDelete, "delete", "delete the selected run (asks)", "d").mutating(),
	}},
	{"Curves", []binding{
		hint(actZoomIn, "zoom", "zoom in on steps (also mouse wheel)", "+", "="),
		bind(actZoomOut, "zoom out", "-"),
		hint(actPanLeft, "pan", "pan to older steps", "left", "h"),
		bind(actPanRight, "pan to newer steps (follows at the end)", "right", "l"),
		bind(actZoomReset, "show all steps, follow the newest", "0"),
		hint(actLogScale, "log", "log / linear loss axis", "g"),
		hint(actXAxis, "x-axis", "x axis: step, elapsed time, wall clock", "x"),
		hint(actSmoothLess, "smooth", "less EMA smoothing", "["),
		hint(actSmoothMore, "smooth", "more EMA smoothing", "]"),
		hint(actFreeze, "freeze", "freeze / unfreeze the display", "f"),
		hint(actValMetric, "val", "validation chart: MPJPE (mm) or loss", "v"),
	}},
	{"Joints", []binding{
		hint(actSortJoints, "sort", "skeleton order / sorted by error", "o"),
	}},
	{"Skeleton", []binding{
		hint(actPrevSample, "sample", "previous validation sample", ","),
		hint(actNextSample, "sample", "next validation sample", "."),
		hint(actRotLeft, "rotate", "rotate the views left (15°)", "<"),
		hint(actRotRight, "rotate", "rotate the views right (15°)", ">"),
		hint(actSkelLayers, "layers", "show both / ground truth / prediction", "t"),
	}},
	{"Log", []binding{
		hint(actLogOlder, "scroll", "older lines (also mouse wheel)", "pgup"),
		bind(actLogNewer, "newer lines", "pgdown"),
		hint(actLogEnd, "follow", "newest lines, follow the log", "end"),
	}},
}

// lookup returns the action bound to a key string ("q", "ctrl+c", ...).
func lookup(k string) action {
	for _, g := range keyMap {
		for _, b := range g.bindings {
			for _, kk := range b.key.Keys() {
				if kk == k {
					return b.act
				}
			}
		}
	}
	return actNone
}

// mutates reports whether an action changes runs or writes files.
func mutates(a action) bool { return bindingOf(a).mutates }

// bindingOf returns the binding of an action (for hint lines).
func bindingOf(a action) binding {
	for _, g := range keyMap {
		for _, b := range g.bindings {
			if b.act == a {
				return b
			}
		}
	}
	return binding{}
}
