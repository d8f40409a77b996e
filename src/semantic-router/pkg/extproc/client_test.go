package extproc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Python ext_proc client (test/extproc_client.py, run by xtask) checks
// the prompts of test/heldout_prompts.json against a running router. They
// must not be examples of the configuration and must route where the file
// says; its requirements are pinned.
func TestPythonClientData(t *testing.T) {
	needModel(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "test", "heldout_prompts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var prompts []struct{ Prompt, Category string }
	if err := json.Unmarshal(data, &prompts); err != nil {
		t.Fatal(err)
	}
	examples := map[string]string{}
	for _, c := range testCfg.Categories {
		for _, ex := range c.Examples {
			examples[strings.ToLower(ex)] = c.Name
		}
	}
	perCategory := map[string]int{}
	ts := start(t, testRt, nil)
	for _, p := range prompts {
		if c, ok := examples[strings.ToLower(p.Prompt)]; ok {
			t.Errorf("%q is an example of %s", p.Prompt, c)
			continue
		}
		c := routed(t, exchange(t, ts.client, requestHeaders(), requestBody(chat("auto", p.Prompt), true))[1])
		if h := headerMap(t, c.GetHeaderMutation()); h[HeaderCategory] != p.Category || h[HeaderModel] != modelOf(t, p.Category) {
			t.Errorf("%q routed to %s/%s, want %s/%s", p.Prompt, h[HeaderCategory], h[HeaderModel], p.Category, modelOf(t, p.Category))
		}
		perCategory[p.Category]++
	}
	for _, c := range testCfg.Categories {
		if perCategory[c.Name] == 0 {
			t.Errorf("no held-out prompt for %s", c.Name)
		}
	}

	reqs, err := os.ReadFile(filepath.Join("..", "..", "test", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.]*$`)
	names := map[string]bool{}
	for _, line := range strings.Split(string(reqs), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !pinned.MatchString(line) {
			t.Errorf("requirements.txt: %q is not pinned (name==version)", line)
		}
		names[strings.ToLower(line)] = true
	}
	if !names["envoy-data-plane==2.2.0"] {
		t.Errorf("requirements.txt lacks envoy-data-plane==2.2.0")
	}
}
