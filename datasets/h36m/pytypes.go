package h36m

import py "github.com/nlpodyssey/gopickle/types"

type (
	pyDict  = py.Dict
	pyList  = py.List
	pyTuple = py.Tuple
)
