package nn

// Batch maps graph input names to batch tensors (first dimension = batch).
type Batch map[string]*Tensor

// Adam holds the optimiser's hyperparameters (PyTorch defaults by default).
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64
}

// DefaultAdam is torch.optim.Adam's default configuration.
var DefaultAdam = Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}

// Options configure a compiled program.
type Options struct {
	Batch int   // batch size the program is compiled for
	Seed  int64 // seeds dropout masks: the mask of step s depends only on (Seed, s)
	Adam  Adam
	TF32  bool // CUDA only: allow TF32 tensor-core math (off by default)
}

// State is everything a program learns or accumulates: parameters,
// BatchNorm running statistics (buffers) and Adam moments, keyed by the
// Graph's parameter names. Checkpoints store exactly this.
type State struct {
	Params   map[string]*Tensor
	Buffers  map[string]*Tensor
	AdamM    map[string]*Tensor
	AdamV    map[string]*Tensor
	AdamStep int
}

// Backend compiles model graphs for one kind of device.
type Backend interface {
	Name() string   // "cpu" or "cuda"
	Device() string // human-readable device, e.g. "CPU (2 cores)" or "NVIDIA H100 80GB HBM3"
	Compile(g *Graph, opt Options) (Program, error)
}

// Program is a compiled model that trains and predicts. It is not safe for
// concurrent use; the engine drives it from one goroutine.
type Program interface {
	// TrainStep runs forward, backward and one Adam update with learning
	// rate lr on a full batch, in training mode; step (0-based) selects the
	// dropout masks. It returns the loss before the update.
	TrainStep(b Batch, step int, lr float64) (loss float64, err error)
	// Gradients runs forward and backward in training mode without
	// updating anything and returns the loss and d loss / d param.
	Gradients(b Batch, step int) (loss float64, grads map[string]*Tensor, err error)
	// Predict runs in evaluation mode on a full batch of data inputs and
	// returns the graph's outputs.
	Predict(b Batch) (map[string]*Tensor, error)
	// Loss evaluates the objective in evaluation mode (validation loss).
	Loss(b Batch) (float64, error)
	State() (*State, error)
	SetState(s *State) error
	Memory() MemoryStats
	Close() error
}

// MemoryStats reports device memory a program uses, in bytes (0: unknown).
type MemoryStats struct {
	Used, Peak, Total int64
	// Host marks a CPU program's numbers: the process's resident memory
	// (all of it: weights, data, the runtime) of the machine's RAM.
	Host bool
}

// Utilizer is implemented by backends that can tell how busy their device
// is (percent of time a kernel ran, as nvidia-smi reports it).
type Utilizer interface {
	Utilization() (float64, error)
}

// Describer is implemented by programs that can say in one line how they
// run (for the run log), e.g. whether steps are captured as a CUDA graph.
type Describer interface {
	Describe() string
}

// Stager is implemented by programs that can prepare a training batch
// (copy it to the device) while another training step runs. Stage may be
// called from another goroutine while TrainStep, or any other method,
// runs; it is a hint: a program may ignore it, and TrainStep must give the
// same result whether or not its batch was staged. A program uses a staged
// copy only for a TrainStep whose batch holds the very same tensors; the
// caller must not change a staged batch's tensors until that TrainStep
// returns. Stage may block for about one training step.
type Stager interface {
	Stage(b Batch)
}
