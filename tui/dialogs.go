package tui

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"charm.land/lipgloss/v2"

	"poselab/engine"
)

type formKind int

const (
	formNewRun formKind = iota
	formExport
	formExtend
)

// extender is implemented by engines that let an ended run train on
// (*engine.Engine does: poselab resume RUN --epochs N).
type extender interface {
	Extend(id string, epochs, patience int) error
	// CanExtend refuses a run no epochs or patience would extend (a
	// pipeline stage a later stage trained on), before the form asks.
	CanExtend(id string) error
}

// deleteChecker is implemented by engines that can say beforehand
// whether a run may be deleted (*engine.Engine does), so that d on an
// active run says why at once instead of after asking "Delete run?".
type deleteChecker interface {
	CanDelete(id string) error
}

// chainChecker is implemented by engines that can say beforehand
// whether a run's outputs may feed a new one (*engine.Engine does): c on
// a run stopped or failed without outputs says why at once. Submit checks
// the rest (data, queue) and a refused run reopens the form.
type chainChecker interface {
	CanChain(id string) error
}

var (
	_ deleteChecker = (*engine.Engine)(nil)
	_ chainChecker  = (*engine.Engine)(nil)
)

// extendValues are the extend form's fields.
type extendValues struct {
	run              string
	epochs, patience string
}

// openExtend asks how far a finished run should train on: r on a finished
// run (the engine cannot resume it as it is).
func (m *Model) openExtend(info engine.RunInfo) tea.Cmd {
	v := &extendValues{run: info.Spec.ID,
		epochs: strconv.Itoa(max(info.Spec.Epochs, info.Epoch+1)), patience: strconv.Itoa(info.Spec.Patience)}
	if info.Epoch >= info.Spec.Epochs { // it ran to its end: offer as many again
		v.epochs = strconv.Itoa(2 * info.Epoch)
	} else if info.Spec.Patience > 0 {
		// Patience ended it: kept, it would end it again after the next
		// epoch that does not improve (the engine refuses so), so Enter
		// trains every epoch.
		v.patience = "0"
	}
	best := ""
	if b := info.BestValMPJPE; b > 0 {
		unit := " mm"
		for _, r := range m.rows {
			if r.info.Spec.ID == info.Spec.ID && r.px { // a 2D model: its error is in pixels
				unit = " px"
			}
		}
		best = ", best val " + fmtMM(b) + unit
	}
	m.extend, m.formFor = v, formExtend
	// plural: a one-epoch run "trained 1 epochs"
	m.formTitle = fmt.Sprintf("Extend %s: it trained %s%s; it goes on from its last checkpoint", listedName(info), plural(info.Epoch, "epoch"), best)
	m.form = newForm(m.formWidth(), huh.NewGroup(
		huh.NewInput().Title("Epochs in all").Validate(intOrEmpty(info.Epoch+1)).Value(&v.epochs),
		huh.NewInput().Title("Patience (epochs, 0: every epoch)").Validate(intOrEmpty(0)).Value(&v.patience),
	))
	return m.startForm()
}

// pipelineSubmitter is implemented by engines that expand a pipeline
// (C..G) into its chain of runs (*engine.Engine does).
type pipelineSubmitter interface {
	SubmitPipeline(name, preset string, base engine.Spec) ([]string, error)
}

// newRunValues are the new-run form's fields (strings, checked on submit).
type newRunValues struct {
	after                          string // chain: start after this run, from its outputs
	name, pipeline, model, preset  string
	presetSel                      *huh.Select[string] // offers presets (syncPresets)
	presetsFor                     string              // the pipeline/model its options are of
	data, device, epochs, lr, seed string
	batch, tf32                    string // tf32: "off" or "on" (CUDA only)
	init                           string // weights to start from: a run id or a file (engine.Spec.Init)
	// dataSize: a chained run's synthetic data size, its source's (no
	// field: the source's outputs are of that size's samples, and the
	// preset's own size would not match them).
	dataSize string
	patience string // epochs without a better validation that end the run (engine.Spec.Patience)
	// fromPreset: a chained run's source's preset, taken again by a
	// model that has it (SH's seed-n1, which SB lacks, became SB's first
	// preset, and stayed that with the model set back to SH); autoPreset
	// is the preset syncPresets chose instead.
	fromPreset, autoPreset string
}

// pipelines offered by the form; the engine expands a pipeline into its
// chain of stages.
var pipelineOptions = []huh.Option[string]{
	huh.NewOption("single model", ""),
	huh.NewOption("C  GT 2D → SB", "C"),
	huh.NewOption("D  SH → SB", "D"),
	huh.NewOption("E  SH xy + SB z", "E"),
	huh.NewOption("F  IR xyz", "F"),
	huh.NewOption("G  IR xy + SH→SB z", "G"),
}

func intOrEmpty(min int) func(string) error { return intOrEmptyFor(min, "for the preset's") }

// intOrEmptyFor is intOrEmpty for a field whose empty value means
// something else than the preset's (Patience: train every epoch).
func intOrEmptyFor(min int, empty string) func(string) error {
	return func(s string) error {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < min {
			return fmt.Errorf("a whole number ≥ %d, or empty %s", min, empty)
		}
		return nil
	}
}

// seedOrEmpty takes any whole number, as train's --seed does: the engine
// seeds its generators with the seed's 64 bits, so a negative seed is one
// more seed (-1 trains differently from 1), not an error; the form
// refused what --seed, --grid seed=... and pipeline run took.
func seedOrEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
		return fmt.Errorf("a whole number, or empty for seed 1")
	}
	return nil
}

func positiveFloatOrEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || v > engine.MaxBaseLR { // the CLI's --lr too
		return fmt.Errorf("a learning rate in (0, %g], or empty for the preset's", float64(engine.MaxBaseLR))
	}
	return nil
}

func (m *Model) formWidth() int { return min(max(m.w-6, 30), 72) }

// openNewRun opens the new-run form; after != "" makes it a chained run
// that starts when that run finishes and uses its outputs.
func (m *Model) openNewRun(after string) tea.Cmd {
	v := &newRunValues{after: after, model: "sb", preset: "tiny", data: "synth", device: "cpu", seed: "1", tf32: "off"}
	if after != "" {
		if info, ok := m.ctrl.Run(after); ok {
			v.data, v.device, v.preset, v.dataSize = info.Spec.Data, info.Spec.Device, info.Spec.Preset, info.Spec.DataSize
			v.fromPreset = info.Spec.Preset
		}
	}
	return m.openNewRunWith(v)
}

// openNewRunWith opens the new-run form on v's values: the defaults, or
// what was typed in a form whose run the engine refused.
func (m *Model) openNewRunWith(v *newRunValues) tea.Cmd {
	after := v.after
	title := "New run"
	if after != "" {
		title = "Chain: new run after " + m.listedNameOf(after) + " (from its outputs)"
	}
	left := []huh.Field{
		huh.NewInput().Title("Name").Placeholder("automatic").CharLimit(40).Value(&v.name),
	}
	if after == "" {
		left = append(left, huh.NewSelect[string]().Title("Pipeline").Options(pipelineOptions...).Inline(true).Value(&v.pipeline))
	}
	models := []string{"sb", "sh", "ir", "baseline"}
	if after != "" {
		// A chained run trains on its source's outputs, and only SB reads
		// them (it lifts their 2D poses); the engine refuses the others.
		models = []string{"sb"}
	}
	left = append(left,
		unless(huh.NewSelect[string]().Title("Model").Options(huh.NewOptions(models...)...).Inline(true).Value(&v.model),
			v.single, "Model", "each stage has its own"),
		v.presetField(),
		huh.NewSelect[string]().Title("Device").Options(huh.NewOptions("cpu", "cuda")...).Inline(true).Value(&v.device),
		// No field check here: huh checks a select when leaving it either
		// way, so "on" with device cpu would trap the focus (shift+tab back
		// to Device refused). The engine refuses TF32 off CUDA at submit.
		huh.NewSelect[string]().Title("TF32 (cuda)").Options(huh.NewOptions("off", "on")...).Inline(true).Value(&v.tf32),
	)
	right := []huh.Field{
		huh.NewInput().Title("Data (synth or a folder)").Value(&v.data).Validate(func(s string) error {
			if strings.TrimSpace(s) == "" {
				return fmt.Errorf("data: synth or a folder")
			}
			return nil
		}),
		huh.NewInput().Title("Epochs").Placeholder("preset default").Validate(intOrEmpty(1)).Value(&v.epochs),
		huh.NewInput().Title("Batch").Placeholder("preset default").Validate(intOrEmpty(1)).Value(&v.batch),
		huh.NewInput().Title("Learning rate").Placeholder("preset default").Validate(positiveFloatOrEmpty).Value(&v.lr),
		huh.NewInput().Title("Seed").Validate(seedOrEmpty).Value(&v.seed),
		// Checked by the engine at submit (a refused run reopens the form).
		unless(huh.NewInput().Title("Init from (run id or file)").Placeholder("fresh weights").Value(&v.init),
			v.single, "Init from (run id or file)", "stages have their own init"),
		// Last: the fields before it keep their places (and key counts).
		huh.NewInput().Title("Patience (epochs)").Placeholder("train every epoch").Validate(intOrEmptyFor(0, "to train every epoch")).Value(&v.patience),
	}
	m.newRun, m.formFor, m.formTitle = v, formNewRun, title
	m.form = newForm(m.formWidth(), huh.NewGroup(left...), huh.NewGroup(right...))
	return m.startForm()
}

// newForm builds a compact form: groups side by side, one line between
// fields, colours from the terminal's 16-colour palette.
func newForm(w int, groups ...*huh.Group) *huh.Form {
	theme := huh.ThemeFunc(func(dark bool) *huh.Styles {
		t := huh.ThemeBase16(dark)
		t.FieldSeparator = lipgloss.NewStyle().SetString("\n")
		return t
	})
	// The layout first: WithWidth splits the width between the columns
	// by it (set after, each column got the whole width until a window
	// size message came, and a serve session gets none when a form opens).
	return huh.NewForm(groups...).WithShowHelp(false).WithLayout(huh.LayoutColumns(len(groups))).WithWidth(w).WithTheme(theme)
}

// single: the run is of one model, not a pipeline; the Model and Init
// from fields apply only then.
func (v *newRunValues) single() bool { return v.pipeline == "" }

// presets are the presets the form offers: the chosen pipeline's (those
// all its stages have) or model's, as the engine registered them.
func (v *newRunValues) presets() []string {
	if v.pipeline != "" {
		return engine.PipelinePresets(v.pipeline)
	}
	return engine.ModelPresets(v.model)
}

// presetField is the Preset select: only the presets the chosen model (or
// every stage of the pipeline) has ("small" offered for every model was
// refused for all but SB).
func (v *newRunValues) presetField() *huh.Select[string] {
	v.presetSel, v.presetsFor = huh.NewSelect[string]().Title("Preset").Inline(true).Value(&v.preset), ""
	v.syncPresets()
	return v.presetSel
}

// syncPresets gives the Preset select the presets of the model or
// pipeline chosen now, at once after each form message (huh's OptionsFunc
// loads them by a command, and the field read "Loading..." meanwhile); a
// preset the new choice lacks becomes its first.
func (v *newRunValues) syncPresets() {
	key := v.pipeline + "/" + v.model
	if v.presetSel == nil || key == v.presetsFor {
		return
	}
	v.presetsFor = key
	ps := v.presets()
	if len(ps) == 0 {
		return
	}
	switch {
	case v.fromPreset != "" && (v.preset == v.autoPreset || !slices.Contains(ps, v.preset)) && slices.Contains(ps, v.fromPreset):
		v.preset, v.autoPreset = v.fromPreset, ""
	case !slices.Contains(ps, v.preset):
		v.preset, v.autoPreset = ps[0], ps[0]
	}
	v.presetSel.Options(huh.NewOptions(ps...)...)
}

// spec turns the form into a Spec; zero values leave the preset's defaults.
func (v *newRunValues) spec() engine.Spec {
	s := engine.Spec{Name: strings.TrimSpace(v.name), Model: v.model, Preset: v.preset, Pipeline: v.pipeline,
		Data: strings.TrimSpace(v.data), Device: v.device, Init: strings.TrimSpace(v.init)}
	if s.Data != "synth" && s.Data != "" && !filepath.IsAbs(s.Data) {
		// A data folder is kept absolute in the runs' specs (as `poselab
		// train --data` does): `poselab report`, eval or resume run from
		// another folder must find the same data.
		if abs, err := filepath.Abs(s.Data); err == nil {
			s.Data = abs
		}
	}
	s.Epochs, _ = strconv.Atoi(strings.TrimSpace(v.epochs))
	s.Batch, _ = strconv.Atoi(strings.TrimSpace(v.batch))
	s.Patience, _ = strconv.Atoi(strings.TrimSpace(v.patience))
	s.TF32 = v.tf32 == "on" // on a CPU the engine refuses it, saying why
	// Seed left empty: train's --seed default (presets have no seed; the
	// field said "the preset's" and trained seed 0).
	s.Seed = 1
	if seed, err := strconv.ParseInt(strings.TrimSpace(v.seed), 10, 64); err == nil {
		s.Seed = seed
	}
	if lr, err := strconv.ParseFloat(strings.TrimSpace(v.lr), 64); err == nil {
		s.Schedule.BaseLR = lr
	}
	if v.pipeline != "" {
		// The pipeline decides its stages' models and inits (the engine
		// refuses an init); the fields keep their values for a single run.
		s.Model, s.Init = "", ""
	}
	if v.after != "" {
		s.After, s.From = v.after, []string{v.after}
		if s.Data == "synth" { // as train --from takes it (a folder has no size)
			s.DataSize = v.dataSize
		}
	}
	return s
}

// exportValues are the export form's fields.
type exportValues struct {
	run, split, format, path string
}

func (m *Model) openExport(id string) tea.Cmd {
	v := &exportValues{run: id, split: "val", format: "csv"}
	// "weights": the network as an .npz for PyTorch, with its card (the split does not matter).
	formats := []string{"csv", "json", "npz", "weights"}
	if info, ok := m.ctrl.Run(id); ok && engine.Exports2D(info.Spec.Model) {
		// 2D joints (SH) have one layout, the MPII prediction JSON that
		// poselab metrics --2d scores (the 3D formats have no place for them).
		v.format, formats = "json", []string{"json", "weights"}
	}
	m.export, m.formFor, m.formTitle = v, formExport, "Export predictions or weights of "+m.listedNameOf(id)
	m.form = newForm(m.formWidth(), huh.NewGroup(
		huh.NewSelect[string]().Title("Split").Options(huh.NewOptions("val", "test", "train")...).Inline(true).Value(&v.split),
		huh.NewSelect[string]().Title("Format").Options(huh.NewOptions(formats...)...).Inline(true).Value(&v.format),
		huh.NewInput().Title("File").Placeholder("<runs>/<run>/predictions_<split>.<format> (weights: weights.npz)").Value(&v.path),
	))
	return m.startForm()
}

// startForm initialises the form and tells it the space it has (a form
// sizes its fields on a window-size message).
func (m *Model) startForm() tea.Cmd {
	cmd := m.form.Init()
	f, _ := m.form.Update(tea.WindowSizeMsg{Width: m.formWidth(), Height: max(m.layout().contentH-3, 5)})
	m.form = f.(*huh.Form)
	return cmd
}

func (v *exportValues) target(runsDir string) string {
	if p := strings.TrimSpace(v.path); p != "" {
		return p
	}
	return engine.ExportPath(filepath.Join(runsDir, v.run), v.split, v.format) // as poselab export without --out
}

// updateForm routes a message to the open form.
// Keys that come while a field change is pending wait for it (formkeys.go).
func (m *Model) updateForm(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "esc" {
		m.form, m.wait.from, m.wait.queue = nil, nil, nil // gen stays: stale ticks stay stale
		m.setStatus("cancelled", false)
		return nil
	}
	if f, ok := msg.(formFlushMsg); ok {
		if f.gen != m.wait.gen || m.wait.from == nil {
			return nil // that wait has ended
		}
		return m.replayFormKeys()
	}
	if m.holdFormKey(msg) {
		return nil
	}
	from := m.form.GetFocusedField()
	return m.afterFormMsg(msg, from, m.stepForm(msg))
}

// stepForm feeds msg to the form and acts when it is done.
func (m *Model) stepForm(msg tea.Msg) tea.Cmd {
	f, cmd := m.form.Update(msg)
	m.form = f.(*huh.Form)
	if m.formFor == formNewRun && m.newRun != nil {
		m.newRun.syncPresets()
	}
	cmd = tagged(m.form, cmd)
	switch m.form.State {
	case huh.StateAborted:
		m.form = nil
		m.setStatus("cancelled", false)
	case huh.StateCompleted:
		m.form = nil
		switch m.formFor {
		case formNewRun:
			spec := m.newRun.spec()
			ctrl := m.ctrl
			m.setStatus("submitting…", false)
			return func() tea.Msg {
				if ps, ok := ctrl.(pipelineSubmitter); ok && spec.Pipeline != "" {
					// A pipeline is a chain of runs; the engine builds it.
					base := spec
					base.Pipeline = ""
					ids, err := ps.SubmitPipeline(spec.Pipeline, spec.Preset, base)
					if err != nil || len(ids) == 0 {
						return submittedMsg{err: err}
					}
					return submittedMsg{id: ids[0]}
				}
				id, err := ctrl.Submit(spec)
				return submittedMsg{id: id, err: err}
			}
		case formExtend:
			v := *m.extend
			epochs, _ := strconv.Atoi(strings.TrimSpace(v.epochs))
			patience, err := strconv.Atoi(strings.TrimSpace(v.patience))
			if err != nil {
				patience = -1 // left empty: as it was
			}
			ext := m.ctrl.(extender)
			done := fmt.Sprintf("extended %s to %s", v.run, plural(epochs, "epoch")) // not "1 epochs"
			if epochs == 0 {                                                         // left empty: its epochs stay, the patience changes
				done = fmt.Sprintf("extended %s with patience %d", v.run, patience)
			}
			return m.call(done, func() error {
				return ext.Extend(v.run, epochs, patience)
			})
		case formExport:
			v := *m.export
			path := v.target(m.opts.RunsDir)
			m.setStatus("exporting "+v.run+" to "+path+"…", false)
			// The file first, then the checkpoint that predicted, the run
			// and last its folder (it names the run's ID): the status line
			// is cut at its end, and on 80 columns "exported
			// sb-261126-231912 val predictions to /tmp/runs/sb-261126-2319…"
			// hid the file, then "… in /tmp/runs/…, from best.ckpt…" the
			// checkpoint.
			dir := filepath.Dir(path) + string(filepath.Separator)
			name := v.run // as the list names it; the folder has the ID
			if info, ok := m.ctrl.Run(v.run); ok && info.Spec.Name != "" {
				name = info.Spec.Name
			}
			ctrl := m.ctrl
			return func() tea.Msg {
				info, err := ctrl.Export(v.run, v.split, v.format, path)
				from := info.From
				// Which checkpoint predicted, as poselab export says: the
				// best, not the newest, which a run still training has.
				// An SH run's split with MPII people and Human3.6M records
				// wrote the records beside the file: every file is named.
				files := filepath.Base(path)
				for _, f := range info.Files {
					if f.Path != path && f.What != "card" {
						files += " and " + filepath.Base(f.Path)
					}
				}
				done := fmt.Sprintf("exported %s from %s (%s predictions of %s) in %s", files, from.Label(), v.split, name, dir)
				if v.format == "weights" {
					card := engine.WeightsCardPath(path)
					if filepath.Dir(card) == filepath.Dir(path) {
						card = filepath.Base(card)
					}
					done = fmt.Sprintf("exported %s from %s (how to use them: %s) of %s in %s", filepath.Base(path), from.Label(), card, name, dir)
				}
				return actionDoneMsg{what: done, err: err}
			}
		}
	}
	return cmd
}

func (m *Model) formView() string {
	// Title and footer wrap at the form's width: left long, they widened
	// the box past a narrow terminal, which then cut every line of it.
	fw := m.formWidth()
	t := m.formTitle
	if v := m.newRun; m.formFor == formNewRun && v != nil && v.fromPreset != "" && v.preset != v.fromPreset && !slices.Contains(v.presets(), v.fromPreset) {
		// As train --from refuses it: the source's preset is not the
		// model's, so the form chose another; said, not done silently.
		t += fmt.Sprintf("; model %s has no preset %s (the source's): preset %s", v.model, v.fromPreset, v.preset)
	}
	title := lipgloss.Wrap(t, fw, " ")
	footer := lipgloss.Wrap("enter: next field (submits at the last) · ←/→: choose · esc: cancel", fw, " ")
	// One newline: the form's view begins with a blank line of its own.
	return stBox.Render(stTitle.Render(title) + "\n" + m.form.View() + "\n" + stDim.Render(footer))
}

// confirmDialog asks a question answered by single keys.
type confirmDialog struct {
	text    string
	answers []answer
}

type answer struct {
	key, label string
	do         func() tea.Cmd
}

// view draws the question in a box at most w cells wide: its lines wrap
// (a question naming several runs was wider than the terminal, which then
// cut every line of the box).
func (c *confirmDialog) view(w int) string {
	var b strings.Builder
	b.WriteString(c.text + "\n\n")
	for _, a := range c.answers {
		b.WriteString(stKey.Render(a.key) + "  " + a.label + "\n")
	}
	b.WriteString(stKey.Render("esc") + "  cancel")
	return stBox.Render(lipgloss.Wrap(b.String(), max(w-4, 10), " "))
}

func (m *Model) answerConfirm(k string) tea.Cmd {
	c := m.confirm
	if k == "esc" {
		m.confirm = nil
		return nil
	}
	for _, a := range c.answers {
		if a.key == k {
			m.confirm = nil
			return a.do()
		}
	}
	return nil
}

// listedName names a run as the runs list does, with the ID its folder
// and poselab's commands take: "big-lr (sb-261126-231115)". A named run's
// ID is nowhere else on the screen, so a dialog that gave only the ID
// (delete, extend, export, chain) left the user to guess which run it meant.
func listedName(info engine.RunInfo) string {
	if n := info.Spec.Name; n != "" && n != info.Spec.ID {
		return fmt.Sprintf("%s (%s)", n, info.Spec.ID)
	}
	return info.Spec.ID
}

// listedNameOf is listedName of a run known by its ID.
func (m *Model) listedNameOf(id string) string {
	if info, ok := m.ctrl.Run(id); ok {
		return listedName(info)
	}
	return id
}

func (m *Model) askDelete(info engine.RunInfo) {
	id := info.Spec.ID
	text := fmt.Sprintf("Delete %s %s run %s?\nIts folder, checkpoints and exports are removed.", info.State, info.Spec.Model, listedName(info))
	m.confirm = &confirmDialog{text: text, answers: []answer{
		{key: "y", label: "yes, delete " + listedName(info), do: func() tea.Cmd {
			delete(m.marked, id)
			return m.call("deleted "+id, func() error { return m.ctrl.Delete(id) })
		}},
		{key: "n", label: "no", do: func() tea.Cmd { return nil }},
	}}
}

// askQuit quits at once when nothing trains; otherwise it asks what
// becomes of the active runs.
func (m *Model) askQuit() tea.Cmd {
	active := m.activeRuns()
	if len(active) == 0 {
		m.quit = QuitNoActiveRuns
		return tea.Quit
	}
	if m.opts.ReadOnly {
		// A viewer has no say over the runs: they keep training.
		m.quit = QuitKeepRuns
		return tea.Quit
	}
	// "them" for several runs, "it" for one ("1 run still active: X" then
	// "stop them").
	them := "them"
	if len(active) == 1 {
		them = "it"
	}
	stop := answer{key: "s", label: "stop " + them + " (checkpointed; resume later with r)", do: func() tea.Cmd {
		m.quit = QuitStopRuns
		if !m.opts.Remote {
			return tea.Quit // the local engine stops every run when it closes
		}
		// The server's engine outlives this session: stop the runs here.
		ctrl := m.ctrl
		return tea.Sequence(func() tea.Msg {
			for _, id := range active {
				ctrl.Stop(id)
			}
			return nil
		}, tea.Quit)
	}}
	keepLabel := "keep " + them + " training here after the workbench closes"
	if m.opts.Remote {
		keepLabel = "keep " + them + " training on the server (leave this session)"
	}
	keep := answer{key: "k", label: keepLabel, do: func() tea.Cmd {
		m.quit = QuitKeepRuns
		return tea.Quit
	}}
	// By the names the runs list shows (a named run's ID is nowhere on
	// the screen), with the ID that poselab resume takes.
	shown := make([]string, len(active))
	for i, id := range active {
		shown[i] = m.listedNameOf(id)
	}
	text := fmt.Sprintf("%s still active: %s", plural(len(active), "run"), strings.Join(shown, ", "))
	answers := []answer{stop, keep}
	if m.opts.Remote {
		answers = []answer{keep, stop}
	}
	m.confirm = &confirmDialog{text: text, answers: answers}
	return nil
}

// helpLines flattens keyMap into the lines of the help screen, with
// descriptions cut to descW cells.
func helpLines(descW int, readOnly bool) []string {
	var lines []string
	for gi, g := range keyMap {
		if gi > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, stTitle.Render(g.name))
		for _, b := range g.bindings {
			if readOnly && b.mutates {
				continue // refused in this session: not advertised
			}
			lines = append(lines, stKey.Render(fmt.Sprintf("%-10s", b.key.Help().Key))+" "+fitWidth(b.helpText(readOnly), descW))
		}
	}
	return lines
}

// helpView lists every key binding, generated from keyMap, in as many
// columns as fit w x h; what does not fit scrolls (offset). A read-only
// session's help leaves out the keys it refuses.
func helpView(w, h, offset int, readOnly bool) string {
	body, rows := helpBody(w, h, readOnly)
	more := ""
	if len(body) > rows {
		offset = min(max(offset, 0), len(body)-rows)
		body = body[offset : offset+rows]
		more = stDim.Render("  ↑/↓ pgup/pgdn scroll")
	}
	head, note := stTitle.Render("Keys")+more, "mouse: click a run, click its ■ to overlay, wheel zooms the curves"
	if readOnly {
		head, note = stTitle.Render("Keys")+" "+stBadge.Render("read-only")+more, "runs can be watched, not changed"
	}
	// The note follows the head where it fits, else it takes the blank
	// line under it: on 80 columns it was cut ("overlay, w…"), and with
	// it what the wheel does.
	second := ""
	if lipgloss.Width(head)+4+lipgloss.Width(note) <= w-4 {
		head = truncate(head+stDim.Render("  · "+note), w-4)
	} else {
		// The box as wide as when the head filled it.
		head, second = fitStyled(head, w-4), truncate(stDim.Render(note), w-4)
	}
	return stBox.Render(head + "\n" + second + "\n" + strings.Join(body, "\n"))
}

// helpMaxOffset is how far the help screen of that size scrolls.
func helpMaxOffset(w, h int, readOnly bool) int {
	body, rows := helpBody(w, h, readOnly)
	return max(len(body)-rows, 0)
}

// helpLongest is the width of the help's longest description.
func helpLongest(readOnly bool) int {
	n := 0
	for _, g := range keyMap {
		for _, b := range g.bindings {
			if readOnly && b.mutates {
				continue
			}
			n = max(n, lipgloss.Width(b.helpText(readOnly)))
		}
	}
	return n
}

// helpBody lays the help's lines out in columns for w x h; rows is how
// many of them show at once.
func helpBody(w, h int, readOnly bool) (body []string, rows int) {
	const keyW = 11
	rows = max(h-5, 3)
	ncol, descW := 1, max(w-6-keyW, 10)
	total := len(helpLines(10, readOnly))
	// The fewest columns (two or three) that show every line whole, where
	// the window has them: on 160 x 50, three columns cut "export predictions (csv,
	// json, npz) o…" where two held it all.
	longest, whole := helpLongest(readOnly), false
	for n := 2; n <= 3 && !whole; n++ {
		dw := (w-6)/n - keyW - 2
		if dw >= longest && (total+n-1)/n <= rows {
			ncol, descW, whole = n, dw, true
		}
	}
	// Otherwise the fewest columns that fit the height: wider
	// descriptions cut less (130 x 40 cut most lines in three).
	for n := 2; n <= 3 && !whole; n++ {
		dw := (w-6)/n - keyW - 2
		if dw >= 26 && (total+n-1)/n <= rows {
			ncol, descW = n, dw
			break
		}
	}
	if ncol == 1 && total > rows {
		// It scrolls either way: two columns only where they cut no
		// description. On 80 x 24 two columns of 24 cells cut most of
		// them ("quit (asks about active…"), and scrolled both at once.
		if dw := (w-6)/2 - keyW - 2; dw >= longest {
			ncol, descW = 2, dw
		}
	}
	lines := helpLines(descW, readOnly)
	per := max((len(lines)+ncol-1)/ncol, 1)
	var cols []string
	for c := 0; c < ncol; c++ {
		lo, hi := c*per, min((c+1)*per, len(lines))
		if lo >= hi {
			break
		}
		cols = append(cols, strings.Join(lines[lo:hi], "\n"))
	}
	for i := range cols[:len(cols)-1] {
		cols[i] = lipgloss.NewStyle().PaddingRight(2).Render(cols[i])
	}
	return strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, cols...), "\n"), rows
}
