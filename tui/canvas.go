package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// canvas is a grid of braille cells: each terminal cell holds 2x4 dots, so a
// W x H cell canvas has 2W x 4H addressable pixels. Every cell remembers the
// colour of the last dot drawn into it (a cell has one colour on screen), so
// draw the most important series last.
type canvas struct {
	w, h  int     // cells
	bits  []uint8 // braille dot bits per cell
	color []int   // palette index per cell, -1 for none
	text  []rune  // a character that replaces the cell (labels, markers), 0 for none
}

func newCanvas(w, h int) *canvas {
	w, h = max(w, 1), max(h, 1)
	c := &canvas{w: w, h: h, bits: make([]uint8, w*h), color: make([]int, w*h), text: make([]rune, w*h)}
	for i := range c.color {
		c.color[i] = -1
	}
	return c
}

// pw and ph are the canvas size in dots.
func (c *canvas) pw() int { return c.w * 2 }
func (c *canvas) ph() int { return c.h * 4 }

// brailleBit[dx][dy] is the Unicode braille dot for a position in a cell.
var brailleBit = [2][4]uint8{{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}}

// set lights one dot; dots outside the canvas are ignored (clipping).
func (c *canvas) set(px, py, color int) {
	if px < 0 || py < 0 || px >= c.pw() || py >= c.ph() {
		return
	}
	i := (py/4)*c.w + px/2
	c.bits[i] |= brailleBit[px%2][py%4]
	c.color[i] = color
}

// line draws a segment between two dots (Bresenham).
func (c *canvas) line(x0, y0, x1, y1, color int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	// A segment far outside the canvas (extreme zoom) would loop for long;
	// such segments are clipped by limiting the walk.
	for n := 0; n < 4*(c.pw()+c.ph())+8; n++ {
		c.set(x0, y0, color)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// put writes a character into a cell, replacing its dots.
func (c *canvas) put(cx, cy int, r rune, color int) {
	if cx < 0 || cy < 0 || cx >= c.w || cy >= c.h {
		return
	}
	i := cy*c.w + cx
	c.text[i] = r
	c.color[i] = color
}

// rows renders the canvas, one string per cell row, colouring runs of cells
// that share a colour with one style.
func (c *canvas) rows(pal func(int) lipgloss.Style) []string {
	out := make([]string, c.h)
	var b, seg strings.Builder
	for y := 0; y < c.h; y++ {
		b.Reset()
		cur := -2
		flush := func() {
			if seg.Len() == 0 {
				return
			}
			if cur >= 0 {
				b.WriteString(pal(cur).Render(seg.String()))
			} else {
				b.WriteString(seg.String())
			}
			seg.Reset()
		}
		for x := 0; x < c.w; x++ {
			i := y*c.w + x
			r, col := ' ', -1
			switch {
			case c.text[i] != 0:
				r, col = c.text[i], c.color[i]
			case c.bits[i] != 0:
				r, col = rune(0x2800+int(c.bits[i])), c.color[i]
			}
			if col != cur {
				flush()
				cur = col
			}
			seg.WriteRune(r)
		}
		flush()
		out[y] = b.String()
	}
	return out
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
