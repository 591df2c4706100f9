package torch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// legacyMagic is the number torch.save's legacy format pickles first (torch.serialization's
// MAGIC_NUMBER), and legacyProtocol the protocol version it pickles next.
const (
	legacyMagic    = "1950a86a20f9469cfc6c"
	legacyProtocol = 1001
)

// legacyElementSize is the bytes per element of each storage class the legacy format names.
var legacyElementSize = map[string]int64{
	"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
	"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
}

// legacyStorageClass stands for a torch.*Storage class while the layout is checked.
type legacyStorageClass struct{ name string }

// legacyRebuild stands for torch._utils._rebuild_tensor_v2 while the layout is checked: the
// tensors themselves are built by gopickle's loader afterwards.
type legacyRebuild struct{}

func (legacyRebuild) Call(...any) (any, error) { return nil, nil }

// legacyStorage is what the object's pickle says of one storage: its class and element count.
type legacyStorage struct {
	class string
	numel int64
}

// countingReader counts the bytes read through it, so that the end of the pickles is known.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// checkLegacy walks a legacy-format checkpoint's layout without reading its storages: the
// magic number and protocol, the pickles, and for each storage key the element count that
// precedes its bytes (it must be the count the object's pickle gave) and that those bytes are
// all there. gopickle's loader reads a storage's last block without noticing that the file
// ends early, so a truncated file must be caught here.
func checkLegacy(r io.Reader, size int64) error {
	cr := &countingReader{r: bufio.NewReader(r)}
	unpickle := func(what string) (any, error) {
		u := pickle.NewUnpickler(cr)
		v, err := u.Load()
		if err != nil {
			return nil, legacyErr(what, err)
		}
		return v, nil
	}
	magic, err := unpickle("its magic number")
	if err != nil {
		return err
	}
	if n, ok := magic.(*big.Int); !ok || n.Text(16) != legacyMagic {
		return errors.New("a pickle, not a PyTorch checkpoint (its first value is not torch.save's magic number)")
	}
	proto, err := unpickle("its protocol version")
	if err != nil {
		return err
	}
	if n, ok := proto.(int); !ok || n != legacyProtocol {
		return fmt.Errorf("PyTorch's legacy format with protocol version %v; %d is read", proto, legacyProtocol)
	}
	if _, err := unpickle("its system description"); err != nil {
		return err
	}
	storages := map[string]legacyStorage{}
	u := pickle.NewUnpickler(cr)
	u.FindClass = func(module, name string) (any, error) {
		if module == "torch" {
			if _, ok := legacyElementSize[name]; ok {
				return legacyStorageClass{name}, nil
			}
		}
		if module == "torch._utils" && name == "_rebuild_tensor_v2" {
			return legacyRebuild{}, nil
		}
		return types.NewGenericClass(module, name), nil
	}
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("a persistent id %v that is not a storage's", id)
		}
		if kind, _ := t.Get(0).(string); kind != "storage" {
			return nil, fmt.Errorf("a persistent id of a %v, not a storage", t.Get(0))
		}
		class, ok1 := t.Get(1).(legacyStorageClass)
		key, ok2 := t.Get(2).(string)
		numel, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || numel < 0 {
			return nil, fmt.Errorf("a storage described as %v", id)
		}
		if t.Len() > 5 && t.Get(5) != nil {
			return nil, fmt.Errorf("storage %s is a view of another storage (a format older than PyTorch 0.4), which is not read", key)
		}
		storages[key] = legacyStorage{class.name, int64(numel)}
		return nil, nil
	}
	if _, err := u.Load(); err != nil {
		return legacyErr("the object", err)
	}
	keys, err := unpickle("the storage keys")
	if err != nil {
		return err
	}
	list, ok := keys.(*types.List)
	if !ok {
		return errors.New("PyTorch's legacy format whose storage keys are not a list")
	}
	pos := cr.n
	for _, k := range *list {
		key, _ := k.(string)
		s, ok := storages[key]
		if !ok {
			return fmt.Errorf("storage key %v is not a storage of the object", k)
		}
		var head [8]byte
		if _, err := io.ReadFull(cr, head[:]); err != nil {
			return fmt.Errorf("truncated: storage %s ends early (%w)", key, io.ErrUnexpectedEOF)
		}
		numel := int64(binary.LittleEndian.Uint64(head[:]))
		if numel != s.numel {
			return fmt.Errorf("storage %s holds %d elements where the object says %d: a damaged file", key, numel, s.numel)
		}
		bytes := numel * legacyElementSize[s.class]
		pos += 8 + bytes
		if pos > size {
			return fmt.Errorf("truncated: storage %s needs %d bytes, the file ends %d bytes early", key, bytes, pos-size)
		}
		if _, err := cr.r.Discard(int(bytes)); err != nil {
			return fmt.Errorf("truncated: storage %s ends early (%w)", key, err)
		}
		cr.n += bytes
	}
	return nil
}

// legacyErr says which pickle of a legacy-format file could not be read, and whether the file
// ended in it.
func legacyErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: the file ends inside %s (%w)", what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("PyTorch's legacy format, but %s cannot be read: %w", what, err)
}
