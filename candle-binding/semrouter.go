// Package candle_binding is the Go binding of candle_semantic_router, a Rust
// library that computes sentence embeddings with the all-MiniLM-L6-v2 BERT
// model (candle, CPU).
//
// The library is found by the linker through CGO_LDFLAGS (for example
// "-L/path/to/target/release -Wl,-rpath,/path/to/target/release") and at run
// time through the rpath or LD_LIBRARY_PATH; nothing here hard-codes a path.
// The only declaration of the C API is the cbindgen-generated header in
// include/candle_semantic_router.h.
//
// Every function is safe for concurrent use. The library reports the reason
// of a failure through a per-OS-thread "last error", so each wrapper locks
// its goroutine to its OS thread for the call and the error read.
package candle_binding

/*
#cgo CFLAGS: -I${SRCDIR}/include
#cgo LDFLAGS: -lcandle_semantic_router -ldl -lm -lpthread
#include <stdlib.h>
#include "candle_semantic_router.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"
)

// EmbeddingDim is the length of an all-MiniLM-L6-v2 embedding.
const EmbeddingDim = 384

// Error is a failure reported by the native library (or detected by the
// binding before calling it). Op is the C function concerned; Message is the
// library's last-error text.
type Error struct {
	Op      string
	Message string
}

func (e *Error) Error() string {
	return "candle: " + e.Op + ": " + e.Message
}

// ErrNUL is returned (wrapped in an *Error) for a string that contains a NUL
// byte: it cannot be passed to C without being silently truncated.
var ErrNUL = errors.New("string contains a NUL byte")

// TokenizationResult is the tokenisation of a text, special tokens included
// ([CLS] ... [SEP]).
type TokenizationResult struct {
	IDs    []int32
	Tokens []string
}

// lastError returns the library's last error on the current OS thread. The
// caller must hold runtime.LockOSThread since the failing call.
func lastError(op string) error {
	p := C.get_last_error()
	if p == nil {
		return &Error{Op: op, Message: "unknown error (the library reported none)"}
	}
	msg := C.GoString(p)
	C.free_cstring(p)
	return &Error{Op: op, Message: msg}
}

// cString converts s to a C string allocated with malloc (free with C.free).
// The bytes are passed as they are (invalid UTF-8 included, for the library
// to reject); a NUL byte is refused as C would truncate the string there.
func cString(op, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Op: op, Message: ErrNUL.Error()}
	}
	return C.CString(s), nil
}

func cLength(op string, maxLength int) (C.int32_t, error) {
	if maxLength > math.MaxInt32 || maxLength < math.MinInt32 {
		return 0, &Error{Op: op, Message: fmt.Sprintf("maxLength %d out of range", maxLength)}
	}
	return C.int32_t(maxLength), nil
}

// InitModel loads the model from the directory modelPath (config.json,
// tokenizer.json, model.safetensors). useCPU forces the CPU back-end.
func InitModel(modelPath string, useCPU bool) error {
	const op = "init_similarity_model"
	cpath, err := cString(op, modelPath)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cpath))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !C.init_similarity_model(cpath, C.bool(useCPU)) {
		return lastError(op)
	}
	return nil
}

// IsInitialized reports whether InitModel has succeeded.
func IsInitialized() bool {
	return bool(C.is_similarity_model_initialized())
}

// DefaultMaxTokens is the token limit of a maxLength of 0: 256 tokens,
// [CLS] and [SEP] included (the model's max_seq_length; it has 512
// positions, the most a maxLength can ask for). It is the library's
// DEFAULT_MAX_TOKENS; TestEmbedReportsTruncation checks that they agree.
const DefaultMaxTokens = 256

// Embedding is the embedding of a text and how the text was read.
type Embedding struct {
	// Vector is L2-normalised, EmbeddingDim floats.
	Vector []float32
	// Tokens is the number of tokens embedded, [CLS] and [SEP] included.
	Tokens int
	// Truncated is true when the text had more tokens than the limit: only
	// its first Tokens tokens were embedded.
	Truncated bool
}

// GetEmbedding returns the L2-normalised embedding (EmbeddingDim floats) of
// text. maxLength bounds the number of tokens; 0 means DefaultMaxTokens.
func GetEmbedding(text string, maxLength int) ([]float32, error) {
	e, err := Embed(text, maxLength)
	return e.Vector, err
}

// Embed is GetEmbedding with the token count and whether text was
// truncated to maxLength tokens (0: DefaultMaxTokens).
func Embed(text string, maxLength int) (Embedding, error) {
	const op = "get_text_embedding"
	ml, err := cLength(op, maxLength)
	if err != nil {
		return Embedding{}, err
	}
	ctext, err := cString(op, text)
	if err != nil {
		return Embedding{}, err
	}
	defer C.free(unsafe.Pointer(ctext))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res := C.get_text_embedding(ctext, ml)
	if bool(res.error) || res.data == nil {
		if res.data != nil {
			C.free_embedding(res.data, res.length)
		}
		return Embedding{}, lastError(op)
	}
	defer C.free_embedding(res.data, res.length)
	if res.length <= 0 {
		return Embedding{}, &Error{Op: op, Message: fmt.Sprintf("library returned length %d", int32(res.length))}
	}
	out := Embedding{Vector: make([]float32, int(res.length)), Tokens: int(res.token_count), Truncated: bool(res.truncated)}
	copy(out.Vector, unsafe.Slice((*float32)(unsafe.Pointer(res.data)), int(res.length)))
	return out, nil
}

// ReleaseMemory gives the memory that earlier calls freed back to the
// operating system (glibc malloc_trim); call it when idle after a burst.
// It reports whether any memory was released.
func ReleaseMemory() bool {
	return bool(C.release_memory())
}

// Similarity returns the cosine similarity of the embeddings of a and b.
func Similarity(a, b string, maxLength int) (float32, error) {
	const op = "calculate_similarity"
	ml, err := cLength(op, maxLength)
	if err != nil {
		return 0, err
	}
	ca, err := cString(op, a)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(ca))
	cb, err := cString(op, b)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(cb))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	score := float32(C.calculate_similarity(ca, cb, ml))
	if score == -1.0 { // the error value (no real pair of texts is that far apart)
		return 0, lastError(op)
	}
	return score, nil
}

// FindMostSimilar returns the index in candidates of the text most similar
// to query, and its cosine similarity.
func FindMostSimilar(query string, candidates []string, maxLength int) (index int, score float32, err error) {
	const op = "find_most_similar"
	ml, err := cLength(op, maxLength)
	if err != nil {
		return -1, 0, err
	}
	if len(candidates) > math.MaxInt32 {
		return -1, 0, &Error{Op: op, Message: "too many candidates"}
	}
	cq, err := cString(op, query)
	if err != nil {
		return -1, 0, err
	}
	defer C.free(unsafe.Pointer(cq))

	// The array of pointers lives in C memory; an empty list is passed as
	// NULL with a count of 0 for the library to reject.
	var arr **C.char
	if n := len(candidates); n > 0 {
		arr = (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		if arr == nil {
			return -1, 0, &Error{Op: op, Message: "out of memory"}
		}
		slots := unsafe.Slice(arr, n)
		defer func() {
			for _, p := range slots {
				if p != nil {
					C.free(unsafe.Pointer(p))
				}
			}
			C.free(unsafe.Pointer(arr))
		}()
		for i, c := range candidates {
			cc, err := cString(op, c)
			if err != nil {
				return -1, 0, &Error{Op: op, Message: fmt.Sprintf("candidate %d: %s", i, ErrNUL)}
			}
			slots[i] = cc
		}
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res := C.find_most_similar(cq, arr, C.int32_t(len(candidates)), ml)
	idx := int(res.index)
	if idx < 0 {
		return -1, 0, lastError(op)
	}
	if idx >= len(candidates) {
		return -1, 0, &Error{Op: op, Message: fmt.Sprintf("library returned index %d for %d candidates", idx, len(candidates))}
	}
	return idx, float32(res.score), nil
}

// Tokenize returns the tokens of text as the model sees them, special
// tokens included. maxLength bounds the number of tokens; 0 means the model
// maximum.
func Tokenize(text string, maxLength int) (TokenizationResult, error) {
	const op = "tokenize_text"
	ml, err := cLength(op, maxLength)
	if err != nil {
		return TokenizationResult{}, err
	}
	ctext, err := cString(op, text)
	if err != nil {
		return TokenizationResult{}, err
	}
	defer C.free(unsafe.Pointer(ctext))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res := C.tokenize_text(ctext, ml)
	if bool(res.error) {
		err := lastError(op)
		C.free_tokenization_result(res)
		return TokenizationResult{}, err
	}
	defer C.free_tokenization_result(res)

	n := int(res.token_count)
	out := TokenizationResult{IDs: make([]int32, n), Tokens: make([]string, n)}
	if n == 0 {
		return out, nil
	}
	if res.token_ids == nil || res.tokens == nil {
		return TokenizationResult{}, &Error{Op: op, Message: "library returned NULL arrays"}
	}
	ids := unsafe.Slice((*int32)(unsafe.Pointer(res.token_ids)), n)
	copy(out.IDs, ids)
	for i, p := range unsafe.Slice(res.tokens, n) {
		if p != nil {
			out.Tokens[i] = C.GoString(p)
		}
	}
	return out, nil
}
