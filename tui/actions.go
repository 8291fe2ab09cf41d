package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"poselab/engine"
)

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	ks := k.String()
	if m.confirm != nil {
		return m.answerConfirm(ks)
	}
	if m.help {
		switch ks {
		case "?", "esc", "q":
			m.help = false
		case "ctrl+c":
			// The help lists ctrl+c as quit; q closes the help instead.
			m.help = false
			return m.do(actQuit)
		case "down", "j":
			// Bounded here, not only when drawn: scrolled past the end,
			// up had to undo every extra press before the view moved.
			m.helpOff = min(m.helpOff+1, m.helpMaxOffset())
		case "up", "k":
			m.helpOff = max(m.helpOff-1, 0)
		case "pgdown", "space":
			m.helpOff = min(m.helpOff+m.helpPage(), m.helpMaxOffset())
		case "pgup":
			m.helpOff = max(m.helpOff-m.helpPage(), 0)
		}
		return nil
	}
	a := lookup(ks)
	if ks == "esc" {
		m.setStatus("", false)
		return nil
	}
	return m.do(a)
}

// do performs an action (from a key or the mouse).
func (m *Model) do(a action) tea.Cmd {
	info, haveSel := m.selected()
	id := info.Spec.ID
	needRun := func() bool {
		if !haveSel {
			m.setStatus("no run selected"+m.newRunHint(": "), true)
		}
		return haveSel
	}
	if m.opts.ReadOnly && mutates(a) {
		m.setStatus(refusal(a), true)
		return nil
	}
	switch a {
	case actHelp:
		m.help, m.helpOff = true, 0
	case actQuit:
		return m.askQuit()
	case actNextTab:
		m.tab = (m.tab + 1) % tab(len(tabNames))
	case actPrevTab:
		m.tab = (m.tab + tab(len(tabNames)) - 1) % tab(len(tabNames))
	case actTabCurves:
		m.tab = tabCurves
	case actTabJoints:
		m.tab = tabJoints
	case actTabSkeleton:
		m.tab = tabSkeleton
	case actTabLog:
		m.tab = tabLog
	case actLogOlder, actLogNewer, actLogEnd:
		m.lg.show(id) // scrolled before it was first drawn
		switch a {
		case actLogOlder:
			m.lg.scroll(m.logPage())
		case actLogNewer:
			m.lg.scroll(-m.logPage())
		default:
			m.lg.off = 0
		}
	case actUp, actDown:
		if i := m.selIndex(); i >= 0 {
			if a == actUp {
				i = max(i-1, 0)
			} else {
				i = min(i+1, len(m.rows)-1)
			}
			m.selID = m.rows[i].info.Spec.ID
		}
	case actMark:
		if needRun() {
			m.marked[id] = !m.marked[id]
		}
	case actSortRuns:
		m.byBest = !m.byBest
		m.refresh()
	case actMarkAll:
		// All unless every listed run is overlaid already: the map also
		// holds unmarked (false) and deleted runs, so its size says
		// nothing.
		all := false
		for _, r := range m.rows {
			all = all || !m.marked[r.info.Spec.ID]
		}
		m.marked = map[string]bool{}
		if all {
			for _, r := range m.rows {
				m.marked[r.info.Spec.ID] = true
			}
		}
	case actNew:
		return m.openNewRun("")
	case actChain:
		if needRun() && (info.Spec.Model == "sb" || info.Spec.Model == "baseline") {
			// Their outputs are 3D poses, which no model trains on: the
			// form opened on SB, the engine's refusal came only at its
			// last field.
			m.setStatus(fmt.Sprintf("chain: run %s (%s) predicts 3D poses, which no model trains on: chain after an sh or ir run, whose 2D SB lifts", id, info.Spec.Model), true)
			return nil
		}
		if needRun() {
			// A run that ended without outputs would feed a run that
			// fails when it starts: said at once, as d says an active run.
			if cc, ok := m.ctrl.(chainChecker); ok {
				if err := cc.CanChain(id); err != nil {
					m.setStatus(err.Error(), true)
					return nil
				}
			}
			return m.openNewRun(id)
		}
	case actPause:
		if needRun() {
			return m.call(doneText("paused", "pause", info), func() error { return m.ctrl.Pause(id) })
		}
	case actResume:
		if ext, ok := m.ctrl.(extender); ok && haveSel && info.State == engine.Finished && !info.Foreign {
			if err := ext.CanExtend(id); err != nil {
				m.setStatus(err.Error(), true)
				return nil
			}
			return m.openExtend(info)
		}
		if needRun() {
			return m.call(doneText("resumed", "resume", info), func() error { return m.ctrl.Resume(id) })
		}
	case actStop:
		if needRun() {
			m.setStatus("stopping "+id+" (saving a checkpoint)…", false)
			ctrl := m.ctrl
			return func() tea.Msg { return actionDoneMsg{err: ctrl.Stop(id), stop: id} }
		}
	case actExport:
		if needRun() {
			return m.openExport(id)
		}
	case actDelete:
		if needRun() {
			if dc, ok := m.ctrl.(deleteChecker); ok {
				if err := dc.CanDelete(id); err != nil {
					m.setStatus(err.Error(), true)
					return nil
				}
			}
			m.askDelete(info)
		}
	case actZoomIn:
		m.cv.zoomBy(1.5)
	case actZoomOut:
		m.cv.zoomBy(1 / 1.5)
	case actPanLeft:
		m.cv.panBy(0.25)
	case actPanRight:
		m.cv.panBy(-0.25)
	case actZoomReset:
		m.cv.zoom, m.cv.pan = 1, 0
	case actLogScale:
		m.cv.logY = !m.cv.logY
	case actXAxis:
		m.cv.x = (m.cv.x + 1) % 3
	case actSmoothLess:
		m.cv.smooth = max(m.cv.smooth-1, 0)
	case actSmoothMore:
		m.cv.smooth = min(m.cv.smooth+1, len(smoothLadder)-1)
	case actFreeze:
		m.toggleFreeze()
	case actValMetric:
		m.cv.valX = !m.cv.valX
	case actSortJoints:
		m.jSorted = !m.jSorted
	case actPrevSample:
		m.sk.sample--
	case actNextSample:
		m.sk.sample++
	case actRotLeft:
		m.sk.yaw = wrapDeg(m.sk.yaw - 15)
	case actRotRight:
		m.sk.yaw = wrapDeg(m.sk.yaw + 15)
	case actSkelLayers:
		m.sk.layers = (m.sk.layers + 1) % len(layerNames)
	}
	return nil
}

func wrapDeg(d float64) float64 {
	for d > 180 {
		d -= 360
	}
	for d <= -180 {
		d += 360
	}
	return d
}

// call runs a controller call off the UI goroutine (a stop waits for its
// checkpoint) and reports back with actionDoneMsg.
func (m *Model) call(done string, f func() error) tea.Cmd {
	return func() tea.Msg { return actionDoneMsg{what: done, err: f()} }
}

// toggleFreeze holds the charts at what they show now; events keep being
// received, and unfreezing shows everything at once.
func (m *Model) toggleFreeze() {
	if m.frozen != nil {
		m.frozen, m.frozenSk = nil, nil
		m.setStatus("live", false)
		return
	}
	m.frozen = map[string][2]int{}
	m.frozenSk = map[string]frozenSamples{}
	for id, r := range m.st.runs {
		m.frozen[id] = [2]int{len(r.step), len(r.epochs)}
		m.frozenSk[id] = frozenSamples{r.samples, r.sampleEp}
	}
	// The "live" of an unfreeze a moment ago would say the opposite of
	// the FROZEN badge for its seconds.
	m.setStatus("frozen (f: live)", false)
}

// frozenSamples are a run's skeleton samples at the freeze point.
type frozenSamples struct {
	samples []engine.PoseSample
	epoch   int
}
