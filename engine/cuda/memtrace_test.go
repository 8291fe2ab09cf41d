package cuda

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strings"
	"testing"

	"poselab/models"
	"poselab/nn"
)

// The memory trace: the fake GPU logs every device memory access (kernel
// pointer arguments, cuBLAS and cuDNN operands, copies, memsets), and a
// replay gives every byte a token naming its last writer. Run once with no
// shared memory and once with the pooled plan, every read must see the
// same writers in the same places: a buffer overwritten while still
// needed shows up as a read that differs. This checks the plan against
// what the program really launches, not against the plan's own idea of
// who reads what.

type access struct {
	p, bytes   uint64 // bytes 0: a kernel argument, sized from the unshared run's buffer
	write, rmw bool   // rmw: the old contents are read before the write
}

type memEvent struct {
	name string
	acc  []access
}

type accessLog struct{ events []memEvent }

func (l *accessLog) add(name string, a ...access) {
	if l != nil {
		l.events = append(l.events, memEvent{name, a})
	}
}

// kernelParam is what the trace needs of a kernel parameter.
type kernelParam struct {
	ptr, constPtr bool
	name          string
}

var kernelParams = func() map[string][]kernelParam {
	out := map[string][]kernelParam{}
	re := regexp.MustCompile(`__global__ void (\w+)\(([^)]*)\)`)
	for _, m := range re.FindAllStringSubmatch(kernelSource, -1) {
		for _, p := range strings.Split(m[2], ",") {
			f := strings.Fields(strings.ReplaceAll(strings.TrimSpace(p), "*", " * "))
			out[m[1]] = append(out[m[1]], kernelParam{ptr: strings.Contains(p, "*"), constPtr: f[0] == "const", name: f[len(f)-1]})
		}
	}
	return out
}()

// kernelRMW are the pointer parameters a kernel reads before writing
// without an acc flag saying so (acc == 1 makes dx and dp read-modify-write).
var kernelRMW = map[string]map[string]bool{
	"add_bias":     {"y": true},
	"maxpool_back": {"dx": true},
	"loss_reduce":  {"out": true},
	"adam":         {"p": true, "m": true, "v": true},
	"bn_train":     {"rmean": true, "rvar": true},
}

func (l *accessLog) addKernel(name string, args []any) {
	if l == nil {
		return
	}
	params := kernelParams[name]
	acc := false
	for i, p := range params {
		if p.name == "acc" && i < len(args) {
			acc = fmt.Sprint(args[i]) == "1"
		}
	}
	var as []access
	if name == "accumulate" { // a copy (or sum) of n floats; aliased Add inputs skip it, so size it here
		n := uint64(args[2].(i64)) * 4
		as = append(as, access{p: args[0].(uint64), bytes: n}, access{p: args[1].(uint64), bytes: n, write: true, rmw: acc})
		l.add("kernel "+name, as...)
		return
	}
	for i, a := range args {
		v, ok := a.(uint64)
		if !ok || v == 0 || i >= len(params) {
			continue
		}
		p := params[i]
		as = append(as, access{p: v, write: !p.constPtr,
			rmw: !p.constPtr && (kernelRMW[name][p.name] || acc && (p.name == "dx" || p.name == "dp"))})
	}
	l.add("kernel "+name, as...)
}

// regions lists the buffers of an unshared plan, as absolute addresses.
func planSpans(p *program) [][2]uint64 {
	pl := p.pl
	var r [][2]uint64
	add := func(off, bytes int64) {
		if off >= 0 && bytes > 0 {
			r = append(r, [2]uint64{p.arena + uint64(off), p.arena + uint64(off+bytes)})
		}
	}
	for off, bytes := range planRegions(pl) { // the fixed regions
		add(off, bytes)
	}
	for i, n := range p.g.Nodes {
		nb := pl.Nodes[i]
		if n.Op == nn.OpReshape {
			continue
		}
		if !pl.fusedInto[i] && !pl.reluOfAdd[i] { // a fused ReLU's output is its BatchNorm's or Add's
			add(nb.Y, nb.N*4)
		}
		add(nb.Aux, nb.AuxBytes)
		if nb.DY >= 0 {
			add(nb.DY, nb.N*4)
		}
	}
	sort.Slice(r, func(a, b int) bool { return r[a][0] < r[b][0] })
	return r
}

// sizeKernelArgs gives every kernel argument of an unshared run the bytes
// from its pointer to the end of the buffer it points into.
func sizeKernelArgs(t *testing.T, l *accessLog, spans [][2]uint64) {
	for ei := range l.events {
		for ai := range l.events[ei].acc {
			a := &l.events[ei].acc[ai]
			if a.bytes != 0 {
				continue
			}
			k := sort.Search(len(spans), func(k int) bool { return spans[k][1] > a.p })
			if k == len(spans) || spans[k][0] > a.p {
				t.Fatalf("%s: pointer %#x is in no buffer of the plan", l.events[ei].name, a.p)
			}
			a.bytes = spans[k][1] - a.p
		}
	}
}

// segMem holds which token each byte range carries (0: never written).
type segMem struct{ segs []seg }

type seg struct{ lo, hi, tok uint64 }

func mix(vals ...uint64) uint64 {
	h := fnv.New64a()
	for _, v := range vals {
		var b [8]byte
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		h.Write(b[:])
	}
	return h.Sum64()
}

// pieces returns [lo, hi) cut into the stored segments and the gaps.
func (m *segMem) pieces(lo, hi uint64) []seg {
	var out []seg
	at := lo
	k := sort.Search(len(m.segs), func(k int) bool { return m.segs[k].hi > lo })
	for ; k < len(m.segs) && m.segs[k].lo < hi; k++ {
		s := m.segs[k]
		if s.lo > at {
			out = append(out, seg{at, s.lo, 0})
		}
		out = append(out, seg{max(s.lo, lo), min(s.hi, hi), s.tok})
		at = min(s.hi, hi)
	}
	if at < hi {
		out = append(out, seg{at, hi, 0})
	}
	return out
}

// digest names the writers of [lo, hi) and where each one's bytes lie,
// relative to lo (adjacent pieces of one writer count as one).
func (m *segMem) digest(lo, hi uint64) uint64 {
	var vals []uint64
	for _, s := range m.pieces(lo, hi) {
		if n := len(vals); n > 0 && vals[n-1] == s.tok {
			vals[n-2] += s.hi - s.lo
			continue
		}
		vals = append(vals, s.lo-lo, s.hi-s.lo, s.tok)
	}
	return mix(vals...)
}

func (m *segMem) write(lo, hi uint64, tok func(old uint64) uint64) {
	fresh := m.pieces(lo, hi)
	for i := range fresh {
		fresh[i].tok = tok(fresh[i].tok)
	}
	var out []seg
	for _, s := range m.segs {
		if s.hi <= lo || s.lo >= hi {
			out = append(out, s)
			continue
		}
		if s.lo < lo {
			out = append(out, seg{s.lo, lo, s.tok})
		}
		if s.hi > hi {
			out = append(out, seg{hi, s.hi, s.tok})
		}
	}
	out = append(out, fresh...)
	sort.Slice(out, func(a, b int) bool { return out[a].lo < out[b].lo })
	m.segs = out
}

// replay returns, for every read of the log outside the accumulate
// kernels, a digest of the writers of the bytes it reads. An accumulate
// with acc 0 is a copy: the copy carries the writers of its source, so a
// gradient read through an Add's alias matches one read from a copy.
func replay(l *accessLog) []uint64 {
	var m segMem
	var reads []uint64
	call := 0 // writers are named by call, counting the calls both runs make
	for _, e := range l.events {
		if e.name == "kernel accumulate" {
			src, dst := e.acc[0], e.acc[1]
			if dst.rmw {
				sum := m.digest(src.p, src.p+src.bytes)
				m.write(dst.p, dst.p+dst.bytes, func(old uint64) uint64 { return mix(old, sum) })
				continue
			}
			for _, s := range m.pieces(src.p, src.p+src.bytes) {
				tok := s.tok
				m.write(dst.p+(s.lo-src.p), dst.p+(s.hi-src.p), func(uint64) uint64 { return tok })
			}
			continue
		}
		for _, a := range e.acc {
			if a.bytes == 0 {
				continue
			}
			if !a.write || a.rmw {
				reads = append(reads, m.digest(a.p, a.p+a.bytes))
			}
		}
		for ai, a := range e.acc {
			if !a.write || a.bytes == 0 {
				continue
			}
			id := mix(uint64(call), uint64(ai))
			if a.rmw {
				m.write(a.p, a.p+a.bytes, func(old uint64) uint64 { return mix(old, id) })
			} else {
				m.write(a.p, a.p+a.bytes, func(uint64) uint64 { return id })
			}
		}
		call++
	}
	return reads
}

// traceProgram compiles g on a logging fake GPU and runs every kind of
// call once: two training steps (eager, then captured), gradients,
// predict, loss.
func traceProgram(t *testing.T, g *nn.Graph, B int) (*accessLog, *program) {
	d, f := newFakeDevice(t)
	defer close(d.work)
	f.log = &accessLog{}
	pr, err := (&backend{d: d}).Compile(g, nn.Options{Batch: B, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	batch := randomBatch(g, B, 1)
	for step := 0; step < 2; step++ {
		if _, err := pr.TrainStep(batch, step, 1e-3); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := pr.Gradients(batch, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Predict(batch); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Loss(batch); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.errs {
		t.Error(e)
	}
	return f.log, pr.(*handle).p
}

// compareTraces fails unless the shared run's reads see what the unshared
// run's reads see; it returns the first difference ("" if none). The two
// runs make the same calls in the same order, except for the accumulate
// copies that gradient aliases leave out.
func compareTraces(t *testing.T, base, shared *accessLog, baseSpans [][2]uint64) string {
	sizeKernelArgs(t, base, baseSpans)
	var be, se []memEvent
	for _, e := range base.events {
		if e.name != "kernel accumulate" {
			be = append(be, e)
		}
	}
	for _, e := range shared.events {
		if e.name != "kernel accumulate" {
			se = append(se, e)
		}
	}
	if len(be) != len(se) {
		t.Fatalf("%d calls unshared, %d shared: the call sequence changed", len(be), len(se))
	}
	for ei := range be {
		if be[ei].name != se[ei].name || len(be[ei].acc) != len(se[ei].acc) {
			t.Fatalf("call %d: %s with %d accesses unshared, %s with %d shared", ei, be[ei].name, len(be[ei].acc), se[ei].name, len(se[ei].acc))
		}
		for ai := range se[ei].acc {
			if se[ei].acc[ai].bytes == 0 {
				se[ei].acc[ai].bytes = be[ei].acc[ai].bytes
			}
		}
	}
	rb, rs := replay(base), replay(shared)
	k := 0
	for ei, e := range be {
		for ai, a := range e.acc {
			if a.bytes == 0 || (a.write && !a.rmw) {
				continue
			}
			if rb[k] != rs[k] {
				return fmt.Sprintf("call %d (%s) argument %d reads other data with shared memory", ei, e.name, ai)
			}
			k++
		}
	}
	return ""
}

func traceGraphs() map[string]func() *nn.Graph {
	graphs := map[string]func() *nn.Graph{}
	for _, c := range parityCases() {
		c := c
		graphs[c.name] = func() *nn.Graph { b := nn.NewBuilder(); c.build(b); return b.Build() }
	}
	graphs["sb"] = func() *nn.Graph { return models.SB(models.SBPresets["tiny"]) }
	graphs["sh-test"] = func() *nn.Graph { g, _ := models.BuildSH(models.SHPresets["test"]); return g }
	graphs["ir-tiny"] = func() *nn.Graph { c, _ := models.IRPreset("tiny"); g, _ := models.IR(c); return g }
	return graphs
}

// Every model and parity case reads the same data with pooled memory as
// with none shared, in every kind of call.
func TestPooledMemoryReadsWhatUnsharedReads(t *testing.T) {
	for name, mk := range traceGraphs() {
		t.Run(name, func(t *testing.T) {
			t.Setenv("POSELAB_CUDA_MEMREUSE", "0")
			t.Setenv("POSELAB_CUDA_ALIAS", "0")
			base, bp := traceProgram(t, mk(), 2)
			t.Setenv("POSELAB_CUDA_MEMREUSE", "")
			t.Setenv("POSELAB_CUDA_ALIAS", "")
			shared, sp := traceProgram(t, mk(), 2)
			if sp.pl.Reuse != reuseAll || bp.pl.Reuse != reuseNone {
				t.Fatalf("modes %s and %s", bp.pl.Reuse, sp.pl.Reuse)
			}
			for id := range sp.convs {
				if sp.pl.Nodes[id].WS[0] < 0 || sp.ws != 0 {
					t.Fatalf("convolution %d: workspace not in the pool", id)
				}
			}
			if diff := compareTraces(t, base, shared, planSpans(bp)); diff != "" {
				t.Fatal(diff)
			}
			t.Logf("%d events (%d with Add aliases); arena %d bytes unshared, %d pooled", len(base.events), len(shared.events), bp.pl.Total, sp.pl.Total)
		})
	}
}

// The trace catches a plan that overwrites a buffer still needed: give a
// convolution's output (which its BatchNorm reads again in backward) the
// memory of a later output.
func TestMemoryTraceCatchesABadPlan(t *testing.T) {
	g, _ := models.BuildSH(models.SHPresets["test"])
	t.Setenv("POSELAB_CUDA_MEMREUSE", "0")
	base, bp := traceProgram(t, g, 2)
	t.Setenv("POSELAB_CUDA_MEMREUSE", "")
	victim := -1
	for _, n := range g.Nodes {
		if n.Op == nn.OpBatchNorm && g.Nodes[n.Inputs[0]].Op == nn.OpConv2d {
			victim = n.Inputs[0]
			break
		}
	}
	if victim < 0 {
		t.Fatal("no convolution feeds a BatchNorm in SH")
	}
	planHook = func(p *plan) {
		p.Nodes[victim].Y = p.Nodes[victim+2].Y // the BatchNorm+ReLU's output, written right after
	}
	defer func() { planHook = nil }()
	bad, _ := traceProgram(t, g, 2)
	if diff := compareTraces(t, base, bad, planSpans(bp)); diff == "" {
		t.Fatal("a plan that overwrites a saved activation passed the trace")
	} else {
		t.Logf("caught: %s", diff)
	}
}
