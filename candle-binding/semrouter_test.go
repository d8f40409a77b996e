package candle_binding

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// State observed by TestMain before the model is loaded, checked by
// TestBeforeInit (TestMain cannot report through *testing.T).
var (
	initializedBeforeInit   bool
	embedErrBeforeInit      error
	similarityErrBeforeInit error
	findErrBeforeInit       error
	tokenizeErrBeforeInit   error
	badDirErr               error
	initializedAfterBadDir  bool
	modelDir                string
	modelInitErr            error
)

func TestMain(m *testing.M) {
	initializedBeforeInit = IsInitialized()
	_, embedErrBeforeInit = GetEmbedding("hello world", 0)
	_, similarityErrBeforeInit = Similarity("hello", "world", 0)
	_, _, findErrBeforeInit = FindMostSimilar("hello", []string{"a", "b"}, 0)
	_, tokenizeErrBeforeInit = Tokenize("hello", 0)

	badDir := filepath.Join(os.TempDir(), "candle-binding-test-no-such-model-dir")
	badDirErr = InitModel(badDir, true)
	initializedAfterBadDir = IsInitialized()

	modelDir = os.Getenv("CANDLE_MODEL_DIR")
	switch {
	case modelDir == "":
		modelInitErr = errors.New("CANDLE_MODEL_DIR is not set: it must name the all-MiniLM-L6-v2 directory")
	default:
		modelInitErr = InitModel(modelDir, true)
	}
	if modelInitErr != nil {
		fmt.Fprintf(os.Stderr, "model not loaded: %v\n", modelInitErr)
	}
	os.Exit(m.Run())
}

// needModel fails (never skips) a test that needs the real model.
func needModel(t *testing.T) {
	t.Helper()
	if modelInitErr != nil {
		t.Fatalf("model not loaded (CANDLE_MODEL_DIR=%q): %v", modelDir, modelInitErr)
	}
}

func assertLibError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: expected an error, got nil", what)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %T %v is not a *candle_binding.Error", what, err, err)
	}
	if strings.TrimSpace(e.Message) == "" || strings.Contains(e.Message, "unknown error") {
		t.Fatalf("%s: error carries no library message: %q", what, err)
	}
	t.Logf("%s: %v", what, err)
}

func TestBeforeInit(t *testing.T) {
	if initializedBeforeInit {
		t.Fatal("IsInitialized() = true before InitModel")
	}
	assertLibError(t, "GetEmbedding before init", embedErrBeforeInit)
	assertLibError(t, "Similarity before init", similarityErrBeforeInit)
	assertLibError(t, "FindMostSimilar before init", findErrBeforeInit)
	assertLibError(t, "Tokenize before init", tokenizeErrBeforeInit)
}

func TestInitNonexistentDir(t *testing.T) {
	assertLibError(t, "InitModel(nonexistent dir)", badDirErr)
	if initializedAfterBadDir {
		t.Fatal("IsInitialized() = true after a failed InitModel")
	}
}

func TestInitialized(t *testing.T) {
	needModel(t)
	if !IsInitialized() {
		t.Fatal("IsInitialized() = false after InitModel succeeded")
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestEmbedding(t *testing.T) {
	needModel(t)
	for _, maxLen := range []int{0, 512, 8} {
		emb, err := GetEmbedding("The quick brown fox jumps over the lazy dog.", maxLen)
		if err != nil {
			t.Fatalf("GetEmbedding(maxLength=%d): %v", maxLen, err)
		}
		if len(emb) != EmbeddingDim {
			t.Fatalf("maxLength=%d: embedding length %d, want %d", maxLen, len(emb), EmbeddingDim)
		}
		if n := norm(emb); math.Abs(n-1) > 1e-3 {
			t.Fatalf("maxLength=%d: L2 norm %v, want 1±1e-3", maxLen, n)
		}
		for i, x := range emb {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("maxLength=%d: component %d is %v", maxLen, i, x)
			}
		}
	}
}

func TestEmbedReportsTruncation(t *testing.T) {
	needModel(t)
	short, err := Embed("word word word", 0)
	if err != nil {
		t.Fatal(err)
	}
	if short.Tokens != 5 || short.Truncated || len(short.Vector) != EmbeddingDim {
		t.Fatalf("short text: %d tokens, truncated %v, %d dims", short.Tokens, short.Truncated, len(short.Vector))
	}
	// "word" is one token: 254 words fill DefaultMaxTokens with [CLS] and [SEP].
	fits := strings.Repeat("word ", DefaultMaxTokens-2)
	atLimit, err := Embed(fits, 0)
	if err != nil {
		t.Fatal(err)
	}
	if atLimit.Tokens != DefaultMaxTokens || atLimit.Truncated {
		t.Fatalf("text at the limit: %d tokens, truncated %v", atLimit.Tokens, atLimit.Truncated)
	}
	long, err := Embed(fits+strings.Repeat("other ", 10000), 0)
	if err != nil {
		t.Fatal(err)
	}
	if long.Tokens != DefaultMaxTokens || !long.Truncated {
		t.Fatalf("long text: %d tokens, truncated %v", long.Tokens, long.Truncated)
	}
	for i := range long.Vector {
		if d := math.Abs(float64(long.Vector[i] - atLimit.Vector[i])); d > 1e-5 {
			t.Fatalf("component %d: the truncated text differs from its first %d tokens by %g", i, DefaultMaxTokens, d)
		}
	}
	if !IsInitialized() {
		t.Fatal("model not initialized")
	}
	ReleaseMemory() // after a large embedding; the model stays usable
	again, err := Embed("word word word", 0)
	if err != nil || again.Vector[0] != short.Vector[0] {
		t.Fatalf("after ReleaseMemory: %v, %v vs %v", err, again.Vector, short.Vector)
	}
}

func TestEmbeddingDeterministic(t *testing.T) {
	needModel(t)
	a, err := GetEmbedding("same text twice", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GetEmbedding("same text twice", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("component %d differs: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestSimilarity(t *testing.T) {
	needModel(t)
	const q = "How do I bake sourdough bread?"
	related, err := Similarity(q, "A recipe for baking bread at home", 0)
	if err != nil {
		t.Fatal(err)
	}
	unrelated, err := Similarity(q, "The kernel panicked while mounting the root filesystem", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("related=%.4f unrelated=%.4f", related, unrelated)
	if related-unrelated < 0.2 {
		t.Fatalf("related %.4f - unrelated %.4f < 0.2", related, unrelated)
	}
	self, err := Similarity(q, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(self)-1) > 1e-3 {
		t.Fatalf("self-similarity %v, want 1", self)
	}
	// The library's cosine agrees with the dot product of the embeddings.
	ea, _ := GetEmbedding(q, 0)
	eb, _ := GetEmbedding("A recipe for baking bread at home", 0)
	var dot float64
	for i := range ea {
		dot += float64(ea[i]) * float64(eb[i])
	}
	if math.Abs(dot-float64(related)) > 1e-3 {
		t.Fatalf("dot product %v != Similarity %v", dot, related)
	}
}

func TestFindMostSimilar(t *testing.T) {
	needModel(t)
	candidates := []string{
		"The stock market fell sharply after the interest rate announcement.",
		"Our team won the football match in the last minute.",
		"Preheat the oven and knead the dough for the bread.",
		"The compiler reports a segmentation fault in the linker.",
		"Solve the quadratic equation x^2 - 5x + 6 = 0.",
		"The hiking trail climbs through pine forests to a glacier lake.",
	}
	cases := []struct {
		query string
		want  int
	}{
		{"How long should I let sourdough rise before baking?", 2},
		{"Why does my C program crash with a segfault?", 3},
		{"What are the roots of a second degree polynomial?", 4},
		{"Which team scored the winning goal?", 1},
	}
	for _, c := range cases {
		idx, score, err := FindMostSimilar(c.query, candidates, 0)
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		if idx != c.want {
			t.Fatalf("%q: picked %d (%q, score %.3f), want %d (%q)", c.query, idx, candidates[idx], score, c.want, candidates[c.want])
		}
		if score <= 0 || score > 1.001 {
			t.Fatalf("%q: score %v out of range", c.query, score)
		}
	}
}

func TestTokenize(t *testing.T) {
	needModel(t)
	res, err := Tokenize("Hello world", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ids=%v tokens=%q", res.IDs, res.Tokens)
	n := len(res.IDs)
	if n < 3 || len(res.Tokens) != n {
		t.Fatalf("got %d ids and %d tokens", n, len(res.Tokens))
	}
	if res.IDs[0] != 101 || res.Tokens[0] != "[CLS]" {
		t.Fatalf("first token %q/%d, want [CLS]/101", res.Tokens[0], res.IDs[0])
	}
	if res.IDs[n-1] != 102 || res.Tokens[n-1] != "[SEP]" {
		t.Fatalf("last token %q/%d, want [SEP]/102", res.Tokens[n-1], res.IDs[n-1])
	}
	if got := strings.Join(res.Tokens[1:n-1], " "); got != "hello world" {
		t.Fatalf("inner tokens %q, want \"hello world\"", got)
	}

	// max_length truncates, keeping [CLS] and [SEP].
	long := strings.Repeat("word ", 100)
	res, err = Tokenize(long, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IDs) != 16 || res.IDs[0] != 101 || res.IDs[15] != 102 {
		t.Fatalf("truncated to 16: got %d ids %v", len(res.IDs), res.IDs)
	}
}

func TestBadInput(t *testing.T) {
	needModel(t)
	_, err := GetEmbedding("", 0)
	assertLibError(t, "GetEmbedding(empty)", err)

	_, err = GetEmbedding("\xff\xfe", 0)
	assertLibError(t, "GetEmbedding(invalid UTF-8)", err)

	_, err = Similarity("\xff\xfe", "fine", 0)
	assertLibError(t, "Similarity(invalid UTF-8)", err)

	_, err = Similarity("fine", "", 0)
	assertLibError(t, "Similarity(empty)", err)

	_, err = Tokenize("\xff\xfe", 0)
	assertLibError(t, "Tokenize(invalid UTF-8)", err)

	_, err = Tokenize("", 0)
	assertLibError(t, "Tokenize(empty)", err)

	idx, _, err := FindMostSimilar("query", nil, 0)
	assertLibError(t, "FindMostSimilar(no candidates)", err)
	if idx != -1 {
		t.Fatalf("index %d on error, want -1", idx)
	}
	_, _, err = FindMostSimilar("query", []string{}, 0)
	assertLibError(t, "FindMostSimilar(empty slice)", err)

	_, _, err = FindMostSimilar("query", []string{"ok", "\xff"}, 0)
	assertLibError(t, "FindMostSimilar(invalid UTF-8 candidate)", err)

	_, _, err = FindMostSimilar("", []string{"ok"}, 0)
	assertLibError(t, "FindMostSimilar(empty query)", err)

	// NUL bytes cannot cross the C boundary: refused by the binding.
	_, err = GetEmbedding("a\x00b", 0)
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("GetEmbedding(NUL): %v, want a NUL error", err)
	}

	// A failure does not poison later calls on the same thread.
	if _, err := GetEmbedding("still works", 0); err != nil {
		t.Fatalf("after errors: %v", err)
	}
}

func TestConcurrentEmbeddings(t *testing.T) {
	needModel(t)
	texts := []string{
		"How do I reverse a linked list in Go?",
		"What is the derivative of sin(x)?",
		"Best way to caramelise onions",
		"Tell me a fun fact about octopuses",
	}
	want := make([][]float32, len(texts))
	for i, s := range texts {
		e, err := GetEmbedding(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = e
	}

	const goroutines, rounds = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds*len(texts))
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				i := (g + r) % len(texts)
				got, err := GetEmbedding(texts[i], 0)
				if err != nil {
					errs <- err
					continue
				}
				for k := range got {
					if got[k] != want[i][k] {
						errs <- fmt.Errorf("goroutine %d text %d component %d: %v != %v", g, i, k, got[k], want[i][k])
						break
					}
				}
				// Interleave failing calls: their last error must stay on
				// their own thread and not leak into others' results.
				if _, err := GetEmbedding("", 0); err == nil {
					errs <- fmt.Errorf("goroutine %d: empty text accepted", g)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
