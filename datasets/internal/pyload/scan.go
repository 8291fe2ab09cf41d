package pyload

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// scanPickle walks a pickle's opcodes without building anything and
// checks that every length it declares fits in the bytes that follow.
// gopickle allocates a declared length before reading it, so without this
// a 20-byte file claiming a 4 GB string would exhaust memory.
func scanPickle(data []byte) error { return walkPickle(data, nil) }

// walkPickle is scanPickle that also hands each opcode to visit (when not
// nil): the opcode, where it starts, and where its argument ends (a
// FRAME's is its 8-byte length, not the frame). A visit returning false
// ends the walk (with no error).
func walkPickle(data []byte, visit func(op byte, at, end int) bool) error {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(data)-i) {
			return fmt.Errorf("corrupt pickle: opcode at byte %d declares %d bytes, only %d left", i, n, len(data)-i)
		}
		return nil
	}
	line := func() error {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return fmt.Errorf("corrupt pickle: unterminated argument at byte %d", i)
		}
		i += j + 1
		return nil
	}
	for i < len(data) {
		at := i
		op := data[i]
		i++
		var fixed uint64 // bytes of fixed-size argument
		var lenBytes int // size of a length prefix followed by that many bytes
		switch op {
		case '.': // STOP
			if visit != nil {
				visit(op, at, i)
			}
			return nil
		case 'K', 'h', 'q', '\x80', '\x82': // BININT1 BINGET BINPUT PROTO EXT1
			fixed = 1
		case 'M', '\x83': // BININT2 EXT2
			fixed = 2
		case 'J', 'j', 'r', '\x84': // BININT LONG_BINGET LONG_BINPUT EXT4
			fixed = 4
		case 'G': // BINFLOAT
			fixed = 8
		case '\x95': // FRAME: an 8-byte length of what follows
			if err := need(8); err != nil {
				return err
			}
			n := binary.LittleEndian.Uint64(data[i:])
			i += 8
			if err := need(n); err != nil {
				return err
			}
			if visit != nil && !visit(op, at, i) {
				return nil
			}
			continue
		case 'U', '\x8c', 'C', '\x8a': // SHORT_BINSTRING SHORT_BINUNICODE SHORT_BINBYTES LONG1
			lenBytes = 1
		case 'T', 'X', 'B', '\x8b': // BINSTRING BINUNICODE BINBYTES LONG4
			lenBytes = 4
		case '\x8d', '\x8e', '\x96': // BINUNICODE8 BINBYTES8 BYTEARRAY8
			lenBytes = 8
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p', 'P': // text arguments
			if err := line(); err != nil {
				return err
			}
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err := line(); err != nil {
				return err
			}
			if err := line(); err != nil {
				return err
			}
		case '(', ')', ']', '}', 'N', 'a', 'e', 'b', 'd', 'l', 't', 's', 'u', 'R', 'o', '0', '1', '2',
			'Q', '\x81', '\x85', '\x86', '\x87', '\x88', '\x89', '\x90', '\x91', '\x92', '\x93', '\x94',
			'\x97', '\x98':
		default:
			return fmt.Errorf("corrupt pickle: unknown opcode 0x%02x at byte %d", op, i-1)
		}
		if lenBytes > 0 {
			if err := need(uint64(lenBytes)); err != nil {
				return err
			}
			var n uint64
			switch lenBytes {
			case 1:
				n = uint64(data[i])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(data[i:]))
			case 8:
				n = binary.LittleEndian.Uint64(data[i:])
			}
			i += lenBytes
			fixed = n
		}
		if err := need(fixed); err != nil {
			return err
		}
		i += int(fixed)
		if visit != nil && !visit(op, at, i) {
			return nil
		}
	}
	return fmt.Errorf("corrupt pickle: no STOP opcode")
}
