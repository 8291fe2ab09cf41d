// Package engine trains models while any number of viewers (the TUI, the
// headless CLI, SSH sessions) watch and steer it. Data flows one way:
// datasets -> engine (model, optimiser, schedule, backend) -> events -> run
// store and viewers. The engine never draws.
package engine

import (
	"fmt"
	"math"
	"strings"
	"time"

	"poselab/pose"
)

// State is a run's place in its life cycle.
type State string

// Run states.
const (
	Queued   State = "queued"
	Running  State = "running"
	Paused   State = "paused"
	Stopped  State = "stopped"
	Finished State = "finished"
	Failed   State = "failed"
)

// Active reports whether a run still holds or waits for the trainer.
func (s State) Active() bool { return s == Queued || s == Running || s == Paused }

// Spec is what a run is: stored as config.toml in its folder.
type Spec struct {
	ID       string   `toml:"id" json:"id"`
	Name     string   `toml:"name" json:"name"`
	Model    string   `toml:"model" json:"model"`                           // "sb", "sh", "ir", "baseline"
	Preset   string   `toml:"preset" json:"preset"`                         // "tiny", "seed"
	Pipeline string   `toml:"pipeline,omitempty" json:"pipeline,omitempty"` // "C".."G" and the stage, e.g. "D:sh"
	Data     string   `toml:"data" json:"data"`                             // "synth" or a data folder
	Device   string   `toml:"device" json:"device"`                         // "cpu" or "cuda"
	Epochs   int      `toml:"epochs" json:"epochs"`
	Batch    int      `toml:"batch" json:"batch"`
	Seed     int64    `toml:"seed" json:"seed"`
	Loss     string   `toml:"loss,omitempty" json:"loss,omitempty"` // "l1" or "mse"
	TF32     bool     `toml:"tf32" json:"tf32"`
	Schedule Schedule `toml:"schedule" json:"schedule"`
	From     []string `toml:"from,omitempty" json:"from,omitempty"`           // runs whose outputs feed this one
	After    string   `toml:"after,omitempty" json:"after,omitempty"`         // chain: start when this run finishes
	DataSize string   `toml:"data_size,omitempty" json:"data_size,omitempty"` // synthetic size: "tiny", "small", "seed"
	// CkptEvery saves a `last` checkpoint every so many steps besides the
	// one at each epoch's end, so that a killed run loses little (0: only
	// per epoch).
	CkptEvery int `toml:"ckpt_every_steps,omitempty" json:"ckpt_every_steps,omitempty"`
	// Augment turns on the image models' random flip and rotation
	// augmentation where a model makes it optional (the image baseline:
	// pipeline A trains without, B with it).
	Augment bool `toml:"augment,omitempty" json:"augment,omitempty"`
	// Patience ends a run early, as finished, once its validation error
	// has not improved for this many epochs (0: it trains every epoch):
	// hours of a GPU are not spent on a run that has stopped learning.
	// The best checkpoint, and the outputs written from it, are kept.
	Patience int `toml:"patience,omitempty" json:"patience,omitempty"`
	// Init starts the run from existing weights instead of its seeded
	// init: a run id of the same runs directory and model kind (its best
	// checkpoint, else its last), or a .npz, .pth/.pt or .ckpt file (kept
	// as an absolute path). The matching rules are in initmatch.go; only
	// the first session of a run applies it (a resume loads the run's own
	// checkpoint; one of a run that has none yet applies it again).
	Init string `toml:"init,omitempty" json:"init,omitempty"`
}

// DataLabel names a run's data: synth with its size ("synth/tiny"), a
// folder as it is (the size is the synthetic data's; "DIR/tiny" read as
// a subfolder that was never opened).
func (s Spec) DataLabel() string {
	if s.Data == "" || s.Data == "synth" {
		return "synth/" + s.DataSize
	}
	return s.Data
}

// RunInfo is a run's current summary, as a list of runs shows it.
type RunInfo struct {
	Spec          Spec
	State         State
	Reason        string // why it failed or paused itself
	Step, Epoch   int
	TotalSteps    int
	StepsPerEpoch int
	LastLoss      float64
	LastValMPJPE  float64 // mm, NaN before the first validation
	BestValMPJPE  float64 // mm
	BaselineMPJPE float64 // mm, the mean-pose baseline on val (NaN: not applicable)
	// BaselinePx is a 2D model's (SH's) analogue, in px: the fixed mean
	// 2D pose scored on val (NaN for 3D models, and for 2D runs whose
	// store row predates it until they train again).
	BaselinePx    float64
	SamplesPerSec float64
	ETA           time.Duration
	Device        string
	Started       time.Time
	Updated       time.Time
	// Foreign: another poselab process trains the run (or holds it
	// queued). This engine follows it through the run store and passes
	// pause, resume and stop on to that process.
	Foreign  bool
	OwnerPID int // that process, when its lock file names it
	// Resource is the newest resource sample of the run (nil: none),
	// taken at ResourceAt: as its own process publishes it, or as the
	// process that trains it stored it (every resourceStoreEvery) for
	// the others, which have nothing else to tell its memory, GPU
	// utilisation and pace by. The store keeps the last one after the
	// run ends: ResourceLive says whether it still describes the run.
	// Never changed in place: a new sample is a new Resource.
	Resource   *Resource
	ResourceAt time.Time
}

// resourceStoreEvery is how often, at most, a training process stores its
// run's resource sample for the other processes: each sample (every 2 s)
// would be a write, mostly for nobody. README.md gives it, and the 15 s
// of ResourceLive.
const resourceStoreEvery = 5 * time.Second

// ResourceLive says whether the run's last resource sample describes it
// now: the run is active and the sample was taken in its current session,
// and the run trains (a sample is taken between steps, none during a
// validation: a long one leaves the last one older, and still right), or
// the sample is at most 3 resourceStoreEvery old (2 writes missed). A
// paused or queued run keeps the sample of its last step, which is not
// its memory or pace now; an ended run's is history. (A run whose process
// died without saying so reads as running until an engine takes it over
// as stopped: claim.)
func (i RunInfo) ResourceLive(now time.Time) bool {
	if i.SessionResource() == nil {
		return false
	}
	return i.State == Running || now.Sub(i.ResourceAt) <= 3*resourceStoreEvery
}

// SessionResource is an active run's newest resource sample when it was
// taken in the run's current session, live or not (nil otherwise): what
// runs show gives, with its age.
func (i RunInfo) SessionResource() *Resource {
	if i.Resource == nil || !i.State.Active() || i.ResourceAt.Before(i.Started) {
		return nil
	}
	return i.Resource
}

// Owner names the process that trains a foreign run, for messages
// ("asked poselab process 4242 to pause ...").
func (i RunInfo) Owner() string {
	if i.OwnerPID > 0 {
		return fmt.Sprintf("poselab process %d", i.OwnerPID)
	}
	return "the poselab process that trains it"
}

// EventKind names an event; it is the "event" field of `--json` output.
type EventKind string

// Event kinds.
const (
	EvStarted    EventKind = "started"
	EvStep       EventKind = "step"
	EvEpoch      EventKind = "epoch"
	EvCheckpoint EventKind = "checkpoint"
	EvState      EventKind = "state"
	EvFinished   EventKind = "finished"
	EvFailed     EventKind = "failed"
	EvResource   EventKind = "resource"
	EvLog        EventKind = "log"
)

// Event is one thing that happened to a run. Exactly one of the pointer
// fields matching Kind is set.
type Event struct {
	Seq   int64      `json:"seq"`
	Run   string     `json:"run"`
	Time  time.Time  `json:"time"`
	Kind  EventKind  `json:"event"`
	Spec  *Spec      `json:"spec,omitempty"`  // started
	Step  *StepInfo  `json:"step,omitempty"`  // step
	Epoch *EpochInfo `json:"epoch,omitempty"` // epoch
	State *StateInfo `json:"state,omitempty"` // state, finished, failed
	Ckpt  *CkptInfo  `json:"checkpoint,omitempty"`
	Res   *Resource  `json:"resource,omitempty"`
	Log   string     `json:"log,omitempty"`
	// Result accompanies finished events (and failed/stopped ones when
	// something was measured).
	Result *Result `json:"result,omitempty"`
}

// Result is a run's summary when it ends. Missing numbers are NaN in Go
// and omitted as JSON null by the CLI.
type Result struct {
	ValMPJPE      float64 `json:"val_mpjpe_mm"`      // last validation
	BestValMPJPE  float64 `json:"best_val_mpjpe_mm"` // best validation
	BaselineMPJPE float64 `json:"baseline_mpjpe_mm"` // mean-pose baseline on val
	// 2D models (SH) are scored in original-image pixels, not mm: then the
	// MPJPE fields are NaN and these hold the mean joint error.
	ValPx         float64 `json:"val_px,omitempty"`
	BestValPx     float64 `json:"best_val_px,omitempty"`
	BaselinePx    float64 `json:"baseline_px,omitempty"` // fixed-mean 2D pose on val
	Steps         int     `json:"steps"`
	SessionSteps  int     `json:"session_steps"` // steps this process trained: fewer than Steps after a resume, more after a rewind to a checkpoint
	Epochs        int     `json:"epochs"`
	Seconds       float64 `json:"seconds"`       // wall time of this process's session, validation included
	SamplesPerSec float64 `json:"samples_per_s"` // training steps' pace (moving average), validation left out
}

// StepInfo is published for training steps (possibly thinned to a few per
// second; every step's loss is in the run store).
type StepInfo struct {
	Step          int     `json:"step"`
	Epoch         int     `json:"epoch"`
	Loss          float64 `json:"loss"`
	LR            float64 `json:"lr"`
	SamplesPerSec float64 `json:"samples_per_s"`
	ETASeconds    float64 `json:"eta_s"`
	TotalSteps    int     `json:"total_steps"`
}

// EpochInfo is the validation at the end of an epoch.
type EpochInfo struct {
	Epoch      int                `json:"epoch"`
	Step       int                `json:"step"`
	TrainLoss  float64            `json:"train_loss"`
	ValLoss    float64            `json:"val_loss"`
	MPJPE      float64            `json:"val_mpjpe_mm"`
	PMPJPE     float64            `json:"val_p_mpjpe_mm"`
	NMPJPE     float64            `json:"val_n_mpjpe_mm"`
	PCK150     float64            `json:"val_pck150"`
	AUC        float64            `json:"val_auc"`
	PerJoint   []float64          `json:"per_joint_mm"`
	PerAction  map[string]float64 `json:"per_action_mm,omitempty"`
	Pixel      float64            `json:"val_px,omitempty"`       // 2D models: mean joint error, px
	PCKh       float64            `json:"val_pckh50,omitempty"`   // 2D models: PCKh@0.5, a fraction like val_pck150
	PerJointPx []float64          `json:"per_joint_px,omitempty"` // 2D models
	Best       bool               `json:"best"`
	Samples    []PoseSample       `json:"-"` // a few validation samples for skeleton views
}

// Validated says whether the epoch was scored: on data without a
// validation split every metric stays 0, which is no score of 0 mm.
func (x *EpochInfo) Validated() bool { return x.MPJPE > 0 || x.Pixel > 0 }

// PoseSample is one validation sample with ground truth and prediction.
// The engine scores it (viewers only show the numbers): ErrorMM for a 3D
// sample, ErrorPx for a 2D one; 0 where unknown (a 2D sample stored before
// samples carried their error: its crop coordinates do not give the
// original-image pixels the epoch's error is in).
type PoseSample struct {
	Index  int
	GT     pose.Pose3D // root-relative, camera space, mm
	Pred   pose.Pose3D
	GT2D   []pose.Vec2 // crop pixels, 2D models
	Pred2D []pose.Vec2
	Image  *Thumb // 2D models: coarse crop or heatmap
	// ErrorMM is the sample's MPJPE (mm, root-relative), as the epoch's,
	// and JointsMM its error per joint.
	ErrorMM  float64   `json:",omitempty"`
	JointsMM []float64 `json:",omitempty"`
	// ErrorPx is a 2D sample's mean error over its labelled joints, in
	// original-image pixels, as the epoch's Pixel, and JointsPx its error
	// per joint in the same pixels; a joint the sample has no label for
	// is NoJointError (JSON has no NaN, and 0 px is a perfect joint).
	// Samples stored before they carried it have none.
	ErrorPx  float64   `json:",omitempty"`
	JointsPx []float64 `json:",omitempty"`
}

// NoJointError is a 2D sample's JointsPx entry for a joint it has no
// label for: no error to give.
const NoJointError = -1

// WorstJoint is the sample's joint with the largest error, that error and
// its unit ("mm" for a 3D sample, "px" for a 2D one); ok is false where the
// sample carries no per-joint error (one stored before it did).
func (s *PoseSample) WorstJoint() (joint int, err float64, unit string, ok bool) {
	pj, unit := s.JointsMM, "mm"
	if s.Is2D() {
		pj, unit = s.JointsPx, "px"
	}
	if len(pj) != pose.NumJoints {
		return 0, 0, unit, false
	}
	joint = -1
	for j, e := range pj {
		if e >= 0 && (joint < 0 || e > pj[joint]) {
			joint = j
		}
	}
	if joint < 0 {
		return 0, 0, unit, false
	}
	return joint, pj[joint], unit, true
}

// Is2D says whether the sample is a 2D model's: 2D points (or a crop) and
// no 3D pose.
func (s *PoseSample) Is2D() bool {
	if len(s.GT2D) == 0 && s.Image == nil {
		return false
	}
	for _, v := range s.GT {
		if v != (pose.Vec3{}) {
			return false
		}
	}
	return true
}

// scoreSamples fills in the error of each 3D sample that lacks it: those
// a task made, and those of a run store written before samples carried
// their error.
func scoreSamples(samples []PoseSample) {
	for i := range samples {
		s := &samples[i]
		if s.ErrorMM > 0 || s.Is2D() {
			continue
		}
		pred, gt := []pose.Pose3D{s.Pred}, []pose.Pose3D{s.GT}
		if e := pose.MPJPE(pred, gt); e > 0 && !math.IsInf(e, 0) {
			pj := pose.PerJointMPJPE(pred, gt)
			s.ErrorMM, s.JointsMM = e, pj[:]
		}
	}
}

// Thumb is a small grey image (0..255), row-major.
type Thumb struct {
	W, H int
	Pix  []uint8
}

// StateInfo reports a state change.
type StateInfo struct {
	From   State  `json:"from"`
	To     State  `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// Diverged reports a run that paused itself because its loss or weights
// stopped being finite (its reason begins "diverged:").
func (s StateInfo) Diverged() bool {
	return s.To == Paused && strings.HasPrefix(s.Reason, "diverged:")
}

// CkptInfo reports a saved checkpoint.
type CkptInfo struct {
	Path  string `json:"path"`
	Step  int    `json:"step"`
	Epoch int    `json:"epoch"`
	Best  bool   `json:"best"`
}

// Resource is the device line: what trains and how fast.
type Resource struct {
	Device        string `json:"device"`
	MemUsedBytes  int64  `json:"mem_used_bytes"`
	MemTotalBytes int64  `json:"mem_total_bytes"` // 0: unknown
	// MemKind says what the two numbers are: MemDevice, a GPU's memory in
	// use of its total; MemHost, the process's resident memory (RSS) of
	// the machine's RAM (a CPU run). Empty in events of older stores:
	// device memory.
	MemKind       string  `json:"mem_kind,omitempty"`
	GPUUtil       float64 `json:"gpu_util,omitempty"` // percent
	SamplesPerSec float64 `json:"samples_per_s"`
}

// Resource.MemKind values.
const (
	MemDevice = "device"
	MemHost   = "rss"
)

// Controller is what a viewer (TUI, CLI, SSH session) needs from the engine.
// *Engine implements it; tests may use a fake.
type Controller interface {
	// Runs lists the runs oldest first (the order they were created or,
	// for another process's, first seen in).
	Runs() []RunInfo
	Run(id string) (RunInfo, bool)
	// Subscribe returns the full history so far and a channel of later
	// events. A slow subscriber never slows training: when its buffer is
	// full it loses step events (never epoch or state events).
	Subscribe() (history []Event, events <-chan Event, cancel func())
	Submit(spec Spec) (string, error)
	Pause(id string) error
	Resume(id string) error
	Stop(id string) error
	Delete(id string) error
	// Export writes a split's predictions (format csv, json or npz), or
	// with format "weights" the network for PyTorch and its card
	// (ExportWeights; split unused), and names the checkpoint they came
	// from and the files written (a weights export: the .npz, then its
	// card).
	Export(id, split, format, path string) (ExportInfo, error)
	// Schedule returns a run's learning-rate schedule (a pure function).
	Schedule(id string) (Schedule, bool)
}
