package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// onClick selects a clicked run or tab.
func (m *Model) onClick(ms tea.Mouse) tea.Cmd {
	if m.confirm != nil || m.help {
		// What is behind a question or the help stays as it is: a
		// click there changed the run while "delete <run>?" was asked.
		return nil
	}
	l := m.layout()
	if ms.Y == 0 {
		// tabs: find by the rendered header's text positions
		x := lipgloss.Width(m.headerTitle())
		for i, n := range tabNames {
			wd := lipgloss.Width(stTabOff.Render(fmt.Sprintf("%d %s", i+1, n)))
			if ms.X >= x && ms.X < x+wd {
				m.tab = tab(i)
			}
			x += wd
		}
		return nil
	}
	row := ms.Y - l.runsTop - 1
	if row >= 0 && row < l.runsH-1 {
		i := m.runsFirst + row
		if i < len(m.rows) {
			m.selID = m.rows[i].info.Spec.ID
			if ms.X < 2 {
				m.marked[m.selID] = !m.marked[m.selID]
			}
		}
	}
	return nil
}

// onWheel zooms the curves (wheel over the content) or moves the selection
// (wheel over the runs list).
func (m *Model) onWheel(ms tea.Mouse) tea.Cmd {
	l := m.layout()
	up := ms.Button == tea.MouseWheelUp
	switch {
	case m.confirm != nil:
		return nil
	case m.help:
		if up {
			m.helpOff = max(m.helpOff-1, 0)
		} else {
			m.helpOff = min(m.helpOff+1, m.helpMaxOffset())
		}
		return nil
	}
	if ms.Y >= l.contentTop {
		switch {
		case m.tab == tabCurves && up:
			m.cv.zoomBy(1.25)
		case m.tab == tabCurves:
			m.cv.zoomBy(1 / 1.25)
		case m.tab == tabSkeleton && up:
			m.sk.yaw = wrapDeg(m.sk.yaw + 15)
		case m.tab == tabSkeleton:
			m.sk.yaw = wrapDeg(m.sk.yaw - 15)
		case m.tab == tabLog:
			info, _ := m.selected()
			m.lg.show(info.Spec.ID)
			if up {
				m.lg.scroll(3)
			} else {
				m.lg.scroll(-3)
			}
		}
		return nil
	}
	if up {
		return m.do(actUp)
	}
	return m.do(actDown)
}
